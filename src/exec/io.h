#pragma once
// Reading and writing for the executor: native codecs first, the Magick bridge otherwise, and
// every file output staged in a private directory beside the target, then renamed into place.
#include <string>

namespace mtool::exec {

/// `png:out.png` -> {"PNG", "out.png"}; an unknown prefix stays part of the path.
struct Target {
    std::string prefix;  ///< ImageMagick format name from the prefix, or ""
    std::string raw_prefix;
    std::string path;
};
Target split_target(const std::string& filename);

/// A directory `DIR/.mtool-XXXXXX` removed (with its contents) unless committed.
class StagingDir {
public:
    explicit StagingDir(const std::string& final_path);
    /// Write cache: stage under `local_root` (a local directory) and copy each file to the
    /// target directory at commit, through a temporary name and a rename.
    StagingDir(const std::string& final_path, const std::string& local_root);
    ~StagingDir();
    StagingDir(const StagingDir&) = delete;
    StagingDir& operator=(const StagingDir&) = delete;
    const std::string& path() const { return stage_; }
    /// The staged location for the target's file name.
    std::string staged(const std::string& final_path) const;
    /// Renames everything staged into the target directory.
    void commit();

private:
    std::string dir_;
    std::string stage_;
    bool local_ = false;
};

}  // namespace mtool::exec
