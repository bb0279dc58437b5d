#pragma once
// Small POSIX file helpers shared by the output stage and the network cache.
namespace mtool {

/// Copies everything readable from fd `in` to fd `out` in large blocks; false on any error (errno
/// set; a write that makes no progress reports ENOSPC).
bool copy_fd(int in, int out);

}  // namespace mtool
