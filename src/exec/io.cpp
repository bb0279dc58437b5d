#include "src/exec/io.h"

#include <dirent.h>
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "cache/netcache.h"
#include "src/codecs/codec.h"
#include "src/exec/executor.h"
#include "src/exec/staging_registry.h"

namespace mtool::exec {
namespace fs = std::filesystem;

Target split_target(const std::string& filename) {
    Target t{"", "", filename};
    auto colon = filename.find(':');
    if (colon != std::string::npos && colon > 1 && filename.find('/') > colon) {
        std::string prefix = filename.substr(0, colon);
        std::string known = magick::known_format(prefix);
        if (!known.empty()) {
            t.prefix = known;
            t.raw_prefix = prefix;
            t.path = filename.substr(colon + 1);
        }
    }
    return t;
}

static std::string parent_dir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

static std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

namespace {

/// Staging directories of processes that died without cleaning up (kill -9, power loss) are
/// named after their pid; the next mtool writing into the same directory removes them.
void sweep_stale_stages(const std::string& dir) {
    DIR* d = opendir(dir.c_str());
    if (!d) return;
    std::vector<std::string> stale;
    while (dirent* e = readdir(d)) {
        const char* n = e->d_name;
        if (std::strncmp(n, ".mtool-", 7) != 0) continue;
        char* end = nullptr;
        long pid = std::strtol(n + 7, &end, 10);
        if (pid <= 0 || !end || *end != '-') continue;
        if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) stale.push_back(dir + "/" + n);
    }
    closedir(d);
    for (const auto& p : stale) {
        std::error_code ec;
        fs::remove_all(p, ec);
    }
}

}  // namespace

StagingDir::StagingDir(const std::string& final_path) : dir_(parent_dir(final_path)) {
    sweep_stale_stages(dir_);
    std::string tmpl = dir_ + "/.mtool-" + std::to_string(getpid()) + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        int err = errno;
        throw file_error(Severity::file_open_error, "unable to open image", final_path, err,
                         "blob.c/OpenBlob");
    }
    stage_ = buf.data();
    staging_registry::add(stage_);
}

StagingDir::StagingDir(const std::string& final_path, const std::string& local_root)
    : dir_(parent_dir(final_path)), local_(true) {
    std::string tmpl = local_root + "/stage-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) {
        int err = errno;
        throw file_error(Severity::file_open_error, "unable to open image", final_path, err, "blob.c/OpenBlob");
    }
    stage_ = buf.data();
    staging_registry::add(stage_);
}

StagingDir::~StagingDir() {
    if (stage_.empty()) return;
    std::error_code ec;
    fs::remove_all(stage_, ec);
    staging_registry::remove(stage_);
}

std::string StagingDir::staged(const std::string& final_path) const {
    return stage_ + "/" + base_name(final_path);
}

void StagingDir::commit() {
    DIR* d = opendir(stage_.c_str());
    if (!d) return;
    while (dirent* e = readdir(d)) {
        if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
        std::string from = stage_ + "/" + e->d_name;
        std::string to = dir_ + "/" + e->d_name;
        if (local_) {
            try {
                cache::copy_into_place(from, to);
            } catch (...) {
                closedir(d);
                throw;
            }
            continue;
        }
        if (std::rename(from.c_str(), to.c_str()) != 0) {
            int err = errno;
            closedir(d);
            throw file_error(Severity::file_open_error, "unable to write image", to, err,
                             "blob.c/OpenBlob");
        }
    }
    closedir(d);
}

}  // namespace mtool::exec
