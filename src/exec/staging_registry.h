#pragma once
// Staging directories still open, so a fatal signal can remove them before the process dies.
#include <string>

namespace mtool::exec::staging_registry {
void add(const std::string& dir);
void remove(const std::string& dir);
/// Removes every registered directory (async-signal tolerant best effort).
void remove_all_now();
/// Installs SIGINT/SIGTERM/SIGHUP/SIGPIPE handlers that clean up and re-raise.
void install_signal_handlers();
}  // namespace mtool::exec::staging_registry
