#pragma once
// Where an output goes and how it replaces what is there.
//
// ImageMagick opens an output with fopen(path, "wb") and writes in place: through symlinks, into
// devices and FIFOs, keeping the inode (so mode, owner, group and hard links stay), and leaving a
// half-written file when it fails. mtool keeps every one of those effects except the last:
//   * a missing target, or a regular file with one link: written into a private staging
//     directory beside the final target (symlinks resolved first), given the target's mode,
//     owner and group, and renamed over it once complete;
//   * a regular file with several links, or one whose owner this user cannot give to a new
//     file: staged, then copied into the existing inode once complete;
//   * anything else that exists (character or block device, FIFO, socket, /dev/stdout,
//     /proc/self/fd/N): opened and written directly, as ImageMagick does.
// A target ImageMagick could not open (a directory, a file this user may not write, a symlink
// the kernel refuses to follow in a sticky directory) fails with ImageMagick's error before
// anything is written.
//
// A staging directory holds a lock file that its process keeps locked (flock) while it lives;
// the next mtool writing to the same directory removes the stages of dead processes, and only
// its own user's, so a live process in another PID namespace (a container on a shared volume,
// another NFS client) never loses its work.
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

namespace mtool::exec {

/// `png:out.png` -> {"PNG", "png", "out.png"}; an unknown prefix stays part of the path.
struct Target {
    std::string prefix;  ///< ImageMagick format name from the prefix, or ""
    std::string raw_prefix;
    std::string path;
};
Target split_target(const std::string& filename);

/// Files ImageMagick would not treat as plain paths (stdin, fd:, built-ins) go to its own I/O.
bool plain_path(const std::string& path);
bool is_png_family(const std::string& magick);
/// Formats whose writers never create the named file (the registry, a window, a printer).
bool writes_no_file(const std::string& magick);
/// The security policy as ImageMagick checks it: the coder (as WriteImage/ReadImage resolve it)
/// first, then the path (as OpenBlob sees it). Throws ImageMagick's policy error.
void check_policy(const std::string& path, const std::string& format, int rights);

/// What ImageMagick's WriteImages makes of `filename` for `frames` images: the format (explicit
/// prefix, else a writable extension, else `fallback`, the images' own format) and whether the
/// images go into one file (`adjoin`).
struct OutputFormat {
    std::string magick;
    bool adjoin = true;
};
OutputFormat output_format(const struct _ImageInfo* info, const std::string& filename, size_t frames,
                           const std::string& fallback);

/// What a user-named output path leads to.
struct Destination {
    enum class Kind { missing, regular, linked, direct };
    Kind kind = Kind::missing;
    std::string user;   ///< as the user wrote it
    std::string final;  ///< symlinks resolved (the path that is replaced or created)
    struct stat st {};  ///< of `final` when it exists
};

/// Resolves `user` as open(2) would and checks what ImageMagick's open would check; throws
/// ImageMagick's "unable to open image" error where that open would fail.
Destination resolve_destination(const std::string& user);

/// One write call's outputs: the file named by the user or, for writers that split a list into
/// one file per frame (`out-0.png`, `out-%d.png`), the files derived from that name.
class OutputStage {
public:
    /// `single`: the writer produces exactly `user_path`. `native`: an mtool writer, which may
    /// write a device or FIFO directly (ImageMagick's get a staged regular file). `local_root`:
    /// stage there instead (the network cache's write cache) and copy each file at commit.
    OutputStage(const std::string& user_path, bool single, bool native, const std::string& local_root = "");
    ~OutputStage();
    OutputStage(const OutputStage&) = delete;
    OutputStage& operator=(const OutputStage&) = delete;

    /// True when the writer must write the user's path itself (device, FIFO, /dev/stdout).
    bool direct() const { return direct_; }
    /// The path the writer writes for the user's path.
    const std::string& writer_path() const { return writer_path_; }
    /// `text` with staged paths replaced by the user's (for messages of bridged writers).
    std::string user_text(std::string text) const;
    /// Moves every staged file to its destination. A stage that vanished or holds nothing is an
    /// error: the output was not written.
    void commit();

private:
    std::string user_;
    std::string user_prefix_;  ///< the user's directory part, with its slash ("" for none)
    std::string stage_;        ///< the staging directory ("" when direct)
    std::string writer_path_;
    Destination dest_;
    int lock_fd_ = -1;
    bool single_ = true;
    bool direct_ = false;
    bool in_place_ = false;  ///< staged away from the target: copied into it at commit
};

class OutputStage;
/// An output handed to one of ImageMagick's writers or command drivers: the name to give it, and
/// the stage whose files become the user's at commit (null for stdout, mpr:, null:, ...). The
/// policy is checked against the user's path first.
struct BridgedOutput {
    std::string name;
    std::unique_ptr<OutputStage> stage;
    /// `text` with staged paths replaced by the user's.
    std::string user_text(const std::string& text) const;
};
BridgedOutput bridge_output(const struct _ImageInfo* info, const std::string& filename,
                            const OutputFormat& format, bool single, const std::string& local_root = "");

/// Copies `from` to the destination `to` names, by the rules above (the write cache's last step
/// and the fallback when a rename cannot be used). Throws mtool::Error.
void place_file(const std::string& from, const Destination& to);

/// Removes the staging directories of dead processes of this user in `dir`.
void sweep_stale_stages(const std::string& dir);

}  // namespace mtool::exec
