#include "src/exec/io.h"

#include <dirent.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

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

StagingDir::StagingDir(const std::string& final_path) : dir_(parent_dir(final_path)) {
    std::string tmpl = dir_ + "/.mtool-XXXXXX";
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
