#include "src/exec/staging_registry.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "src/core/magick.h"

namespace mtool::exec::staging_registry {
namespace {
constexpr int kMax = 16;
char g_dirs[kMax][4096];
std::mutex g_mutex;

void remove_tree(const char* dir) {
    if (!dir[0]) return;
    if (DIR* d = opendir(dir)) {
        char path[4096 + 256];
        while (dirent* e = readdir(d)) {
            if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
            std::snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

void on_signal(int sig) {
    remove_all_now();
    AsynchronousResourceComponentTerminus();  // ImageMagick's temporary files, as its handler does
    signal(sig, SIG_DFL);
    raise(sig);
}
}  // namespace

void add(const std::string& dir) {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (auto& slot : g_dirs)
        if (!slot[0] && dir.size() < sizeof slot) {
            std::memcpy(slot, dir.c_str(), dir.size() + 1);
            return;
        }
}

void remove(const std::string& dir) {
    std::lock_guard<std::mutex> lock(g_mutex);
    for (auto& slot : g_dirs)
        if (dir == slot) slot[0] = '\0';
}

void remove_all_now() {
    for (auto& slot : g_dirs) remove_tree(slot);
}

void install_signal_handlers() {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(sig, on_signal);
}

}  // namespace mtool::exec::staging_registry
