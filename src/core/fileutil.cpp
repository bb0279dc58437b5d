#include "src/core/fileutil.h"

#include <unistd.h>

#include <cerrno>
#include <vector>

namespace mtool {

bool copy_fd(int in, int out) {
    std::vector<char> buf(size_t{4} << 20);
    for (;;) {
        ssize_t n = ::read(in, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                if (w == 0) errno = ENOSPC;
                return false;
            }
            done += w;
        }
    }
}

}  // namespace mtool
