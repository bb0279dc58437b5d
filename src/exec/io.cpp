#include "src/exec/io.h"

#include <dirent.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>

#include "cache/tiers.h"
#include "src/core/error.h"
#include "src/core/fileutil.h"
#include "src/core/magick.h"
#include "src/exec/staging_registry.h"

namespace mtool::exec {
namespace fs = std::filesystem;

namespace {

constexpr const char* kLockName = ".lock";
/// A stage without a lock file is one whose process died between creating it and locking it;
/// it is removed once it is this old.
constexpr auto kUnlockedStageAge = std::chrono::minutes(10);

/// ImageMagick's "unable to open image" for an output it could not open. Its message does not
/// carry the open's errno but whatever the message lookup left behind (observed on 6.9.11-60):
/// "Invalid argument" when the target exists (a directory, a read-only or protected file), else
/// the lookup's own ENOENT/ENOTDIR (also when a missing file could not be created).
Error open_error(const std::string& path, int err) {
    struct stat st;
    int shown = ::stat(path.c_str(), &st) == 0 ? EINVAL : errno;
    if (err == ELOOP || err == ENAMETOOLONG) shown = err;
    return file_error(Severity::file_open_error, "unable to open image", path, shown,
                      magick::where::open_blob());
}

Error write_error(const std::string& path, int err) {
    return file_error(Severity::file_open_error, "unable to write image", path, err, "blob.c/WriteBlob");
}

std::string parent_dir(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string base_name(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// Paths the kernel resolves through "magic" links to open files, pipes and sockets that have
/// no name of their own: only a direct open writes where the user means.
bool magic_path(const std::string& p) {
    return p.rfind("/proc/", 0) == 0 || p.rfind("/dev/fd/", 0) == 0 || p == "/dev/stdout" ||
           p == "/dev/stderr" || p == "/dev/stdin";
}

int read_sysctl(const char* path) {
    std::FILE* f = std::fopen(path, "r");
    if (!f) return 0;
    int v = 0;
    if (std::fscanf(f, "%d", &v) != 1) v = 0;
    std::fclose(f);
    return v;
}

/// fs.protected_regular / protected_fifos: an O_CREAT open (ImageMagick's fopen "wb") of an
/// existing file in a sticky, world-writable (or, at level 2, group-writable) directory fails
/// unless the file belongs to the opener or to the directory's owner. Root included.
bool protected_from_create(const std::string& file, const struct stat& st) {
    const char* knob = S_ISREG(st.st_mode)    ? "/proc/sys/fs/protected_regular"
                       : S_ISFIFO(st.st_mode) ? "/proc/sys/fs/protected_fifos"
                                              : nullptr;
    if (!knob) return false;
    const int level = read_sysctl(knob);
    if (level <= 0) return false;
    struct stat dir;
    if (::stat(parent_dir(file).c_str(), &dir) != 0 || !(dir.st_mode & S_ISVTX)) return false;
    const bool open_dir = (dir.st_mode & S_IWOTH) || (level >= 2 && (dir.st_mode & S_IWGRP));
    if (!open_dir) return false;
    return st.st_uid != geteuid() && st.st_uid != dir.st_uid;
}

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/// A new file `DIR/.mtool-PID-XXXXXXXX.part` created exclusively (never through a link).
int create_part(const std::string& dir, std::string& name) {
    std::random_device rd;
    for (int attempt = 0; attempt < 64; ++attempt) {
        char suffix[32];
        std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
        name = dir + "/.mtool-" + std::to_string(getpid()) + "-" + suffix + ".part";
        int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/// Gives the open file `fd` the mode, owner and group of `like` (an existing target). False if
/// this user cannot (a new file cannot be given someone else's ownership).
bool take_attributes(int fd, const struct stat& like) {
    struct stat mine;
    if (fstat(fd, &mine) != 0) return false;
    if ((mine.st_uid != like.st_uid || mine.st_gid != like.st_gid) &&
        fchown(fd, like.st_uid, like.st_gid) != 0)
        return false;
    return fchmod(fd, like.st_mode & 07777) == 0;
}

/// Writes the complete staged file into the existing inode of `to` (hard links, ACLs and
/// ownership all stay). The space is reserved first, so a full disk fails before the old
/// contents are touched wherever the file system can reserve.
void copy_in_place(const std::string& from, const Destination& to) {
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw write_error(to.user, errno);
    int out = ::open(to.final.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    struct stat now;
    if (out < 0 || fstat(out, &now) != 0 || !same_file(now, to.st)) {
        int err = out < 0 ? errno : EAGAIN;  // replaced since it was resolved
        if (out >= 0) ::close(out);
        ::close(in);
        throw open_error(to.user, err);
    }
    struct stat src;
    fstat(in, &src);
    if (src.st_size > now.st_size) {
        int r = posix_fallocate(out, 0, src.st_size);
        if (r != 0 && r != EOPNOTSUPP && r != EINVAL) {
            ::close(out);
            ::close(in);
            throw write_error(to.user, r);
        }
    }
    bool ok = lseek(out, 0, SEEK_SET) == 0 && copy_fd(in, out) && ftruncate(out, src.st_size) == 0;
    int err = errno;
    ::close(in);
    ok = ::close(out) == 0 && ok;
    if (!ok) throw write_error(to.user, err ? err : EIO);
}

/// Writes the staged file straight into a device, FIFO or /dev/stdout, as ImageMagick's open does.
void copy_direct(const std::string& from, const Destination& to) {
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw write_error(to.user, errno);
    int out = ::open(to.user.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666);
    if (out < 0) {
        int err = errno;
        ::close(in);
        throw open_error(to.user, err);
    }
    bool ok = copy_fd(in, out);
    int err = errno;
    ::close(in);
    ok = ::close(out) == 0 && ok;
    if (!ok) throw write_error(to.user, err ? err : EIO);
}

}  // namespace

bool plain_path(const std::string& path) {
    return !path.empty() && path != "-" && path.find(':') == std::string::npos;
}

bool is_png_family(const std::string& magick) { return strncasecmp(magick.c_str(), "PNG", 3) == 0; }

bool writes_no_file(const std::string& magick) {
    static const char* const names[] = {"MPR", "MPRI", "NULL", "X", "SHOW", "WIN", "CLIPBOARD", "PRINT"};
    for (const char* n : names)
        if (!strcasecmp(n, magick.c_str())) return true;
    return false;
}

void check_policy(const std::string& path, const std::string& format, int rights) {
    if (!magick::policy_allows(CoderPolicyDomain, static_cast<PolicyRights>(rights), format))
        throw Error(Severity::policy_error,
                    "attempt to perform an operation not allowed by the security policy", format,
                    magick::where::coder_policy);
    if (!magick::policy_allows(PathPolicyDomain, static_cast<PolicyRights>(rights), path))
        throw Error(Severity::policy_error,
                    "attempt to perform an operation not allowed by the security policy", path,
                    magick::where::open_blob_policy());
}

OutputFormat output_format(const ::ImageInfo* info, const std::string& filename, size_t frames,
                           const std::string& fallback) {
    magick::InfoPtr probe = magick::clone_info(info);
    CopyMagickString(probe->filename, filename.c_str(), MaxTextExtent);
    probe->magick[0] = '\0';
    {
        magick::Exception ex;
        SetImageInfo(probe.get(), static_cast<unsigned>(frames), ex);
    }
    OutputFormat f{probe->magick, probe->adjoin != MagickFalse};
    if (f.magick.empty() || probe->affirm == MagickFalse) {
        // Extension-derived or nothing: ImageMagick falls back to the image's format when the
        // name does not denote a writable one.
        const MagickInfo* mi = nullptr;
        if (!f.magick.empty()) {
            magick::Exception ex;
            mi = GetMagickInfo(f.magick.c_str(), ex);
        }
        if (!mi || mi->encoder == nullptr) f.magick = fallback;
    }
    return f;
}

std::string BridgedOutput::user_text(const std::string& text) const {
    return stage ? stage->user_text(text) : text;
}

BridgedOutput bridge_output(const ::ImageInfo* info, const std::string& filename, const OutputFormat& format,
                            bool single, const std::string& local_root) {
    (void)info;
    Target t = split_target(filename);
    BridgedOutput out{filename, nullptr};
    if (!plain_path(t.path) || writes_no_file(format.magick)) return out;
    check_policy(t.path, format.magick, WritePolicyRights);
    if (!local_root.empty()) {
        try {
            out.stage = std::make_unique<OutputStage>(t.path, single, false, local_root);
        } catch (const Error&) {
            // no local staging: stage beside the target as usual
        }
    }
    if (!out.stage) out.stage = std::make_unique<OutputStage>(t.path, single, false);
    out.name = (t.raw_prefix.empty() ? "" : t.raw_prefix + ":") + out.stage->writer_path();
    return out;
}

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

Destination resolve_destination(const std::string& user) {
    Destination d;
    d.user = user;
    d.final = user;
    std::string path = user;
    for (int hops = 0;; ++hops) {
        if (magic_path(path)) {
            struct stat st;
            if (::stat(user.c_str(), &st) == 0) {
                if (S_ISDIR(st.st_mode)) throw open_error(user, EISDIR);
                d.kind = Destination::Kind::direct;
                d.st = st;
                return d;
            }
            if (errno != ENOENT) throw open_error(user, errno);
            d.kind = Destination::Kind::direct;  // /proc/self/fd/N of a closed fd: let open say why
            return d;
        }
        struct stat ls;
        if (::lstat(path.c_str(), &ls) != 0) {
            if (errno != ENOENT) throw open_error(user, errno);
            d.final = path;
            d.kind = Destination::Kind::missing;
            break;
        }
        if (S_ISLNK(ls.st_mode)) {
            if (hops >= 40) throw open_error(user, ELOOP);
            std::vector<char> buf(static_cast<size_t>(std::max<off_t>(ls.st_size, 255)) + 2);
            ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size() - 1);
            if (n < 0) throw open_error(user, errno);
            std::string target(buf.data(), static_cast<size_t>(n));
            path = target.empty() || target[0] == '/' ? target : parent_dir(path) + "/" + target;
            continue;
        }
        d.final = path;
        d.st = ls;
        if (S_ISDIR(ls.st_mode)) throw open_error(user, EISDIR);
        d.kind = !S_ISREG(ls.st_mode) ? Destination::Kind::direct
                 : ls.st_nlink > 1    ? Destination::Kind::linked
                                      : Destination::Kind::regular;
        break;
    }
    // What ImageMagick's fopen(path, "wb") would be refused: write permission on an existing
    // file (the kernel's own check, through the user's path, so protected symlinks count), a
    // symlink the kernel will not follow, and the protected_regular/fifos rules for O_CREAT.
    if (d.kind != Destination::Kind::missing || d.final != user) {
        if (faccessat(AT_FDCWD, user.c_str(), W_OK, AT_EACCESS) != 0 && errno != ENOENT)
            throw open_error(user, errno);
    }
    if (d.kind != Destination::Kind::missing && protected_from_create(d.final, d.st))
        throw open_error(user, EACCES);
    return d;
}

void place_file(const std::string& from, const Destination& to) {
    using Kind = Destination::Kind;
    if (to.kind == Kind::direct) return copy_direct(from, to);
    if (to.kind == Kind::linked) return copy_in_place(from, to);
    // A new file beside the target, renamed over it. When the target exists, the new file
    // takes its mode, owner and group, or, where this user cannot give those, the bytes go
    // into the existing inode instead.
    int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw write_error(to.user, errno);
    std::string part;
    int out = create_part(parent_dir(to.final), part);
    if (out < 0) {
        int err = errno;
        ::close(in);
        throw open_error(to.user, err);
    }
    if (to.kind == Kind::regular && !take_attributes(out, to.st)) {
        ::close(out);
        ::unlink(part.c_str());
        ::close(in);
        return copy_in_place(from, to);
    }
    if (to.kind == Kind::missing) {
        const mode_t mask = umask(0);
        umask(mask);
        fchmod(out, 0666 & ~mask);  // what fopen would have created
    }
    bool ok = copy_fd(in, out);
    int err = errno;
    ::close(in);
    ok = ::close(out) == 0 && ok;
    if (ok && ::rename(part.c_str(), to.final.c_str()) == 0) return;
    if (!err || ok) err = errno;
    ::unlink(part.c_str());
    throw write_error(to.user, err);
}

void sweep_stale_stages(const std::string& dir) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) return;
    DIR* d = fdopendir(dfd);
    if (!d) {
        ::close(dfd);
        return;
    }
    std::vector<std::string> stale;
    const uid_t me = geteuid();
    while (dirent* e = readdir(d)) {
        if (std::strncmp(e->d_name, ".mtool-", 7) != 0) continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != me)
            continue;
        int sfd = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0) continue;
        int lfd = openat(sfd, kLockName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        bool dead = false;
        if (lfd >= 0) {
            // The owner holds an exclusive flock for as long as it lives, in whatever PID
            // namespace or on whatever NFS client it runs.
            dead = flock(lfd, LOCK_EX | LOCK_NB) == 0;
            ::close(lfd);
        } else if (errno == ENOENT) {
            const auto age =
                std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec);
            dead = age > kUnlockedStageAge;
        }
        ::close(sfd);
        if (dead) stale.push_back(dir + "/" + e->d_name);
    }
    closedir(d);
    for (const auto& p : stale) {
        std::error_code ec;
        fs::remove_all(p, ec);  // does not follow links inside
    }
}

OutputStage::OutputStage(const std::string& user_path, bool single, bool native,
                         const std::string& local_root)
    : user_(user_path), single_(single) {
    auto slash = user_path.rfind('/');
    user_prefix_ = slash == std::string::npos ? "" : user_path.substr(0, slash + 1);
    dest_ = resolve_destination(user_path);
    const bool device = dest_.kind == Destination::Kind::direct;
    if (single && device && native) {
        direct_ = true;
        writer_path_ = user_path;
        return;
    }
    // Frame files derived from the name land in the user's directory; one file beside its
    // final target (symlinks resolved), so the rename stays on one file system. ImageMagick's
    // writers get a regular file even for a device or FIFO (some of them reopen, seek or
    // replace what they write); its bytes go to the device at commit.
    const std::string dir = !local_root.empty() ? local_root
                            : !single           ? parent_dir(user_path)
                            : device            ? cache::temporary_dir()
                                                : parent_dir(dest_.final);
    sweep_stale_stages(dir);
    auto make = [](const std::string& in) {
        std::string tmpl = in + "/.mtool-" + std::to_string(getpid()) + "-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        return mkdtemp(buf.data()) ? std::string(buf.data()) : std::string();
    };
    stage_ = make(dir);
    if (stage_.empty()) {
        int err = errno;
        // A writable file in a directory this user cannot add to (ImageMagick writes it in
        // place): stage in the temporary directory and copy into the file at commit.
        const bool exists =
            dest_.kind == Destination::Kind::regular || dest_.kind == Destination::Kind::linked;
        if (!(single && exists && (err == EACCES || err == EPERM)) ||
            (stage_ = make(cache::temporary_dir())).empty())
            throw open_error(user_path, err);
        in_place_ = true;
    }
    staging_registry::add(stage_);
    lock_fd_ =
        ::open((stage_ + "/" + kLockName).c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX) != 0) {
        int err = errno;
        if (lock_fd_ >= 0) ::close(lock_fd_);
        lock_fd_ = -1;
        std::error_code ec;
        fs::remove_all(stage_, ec);
        staging_registry::remove(stage_);
        stage_.clear();
        throw open_error(user_path, err);
    }
    writer_path_ = stage_ + "/" + base_name(user_path);
}

OutputStage::~OutputStage() {
    if (!stage_.empty()) {
        std::error_code ec;
        fs::remove_all(stage_, ec);
        staging_registry::remove(stage_);
    }
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string OutputStage::user_text(std::string text) const {
    if (stage_.empty()) return text;
    const std::string from = stage_ + "/";
    for (size_t at; (at = text.find(from)) != std::string::npos;) text.replace(at, from.size(), user_prefix_);
    return text;
}

void OutputStage::commit() {
    if (direct_) return;
    std::vector<std::string> names;
    if (DIR* d = opendir(stage_.c_str())) {
        while (dirent* e = readdir(d))
            if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..") &&
                std::strcmp(e->d_name, kLockName))
                names.push_back(e->d_name);
        closedir(d);
    } else {
        throw write_error(user_, errno);  // the stage was removed under us
    }
    if (names.empty()) throw write_error(user_, ENOENT);
    std::sort(names.begin(), names.end());
    const std::string own = base_name(user_);
    for (const std::string& name : names) {
        const std::string from = stage_ + "/" + name;
        const bool is_user_file = single_ && name == own;
        // Re-resolved now: what the target is at the moment of replacing it is what counts.
        Destination to = resolve_destination(is_user_file ? user_ : user_prefix_ + name);
        using Kind = Destination::Kind;
        const bool exists = to.kind == Kind::regular || to.kind == Kind::linked;
        if (in_place_ && exists) {
            copy_in_place(from, to);
            continue;
        }
        // The staged file itself becomes the target where it can: a rename within the file
        // system, after it took the mode, owner and group of the file it replaces.
        if (to.kind == Kind::missing || to.kind == Kind::regular) {
            int fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
            const bool kept = fd >= 0 && (to.kind == Kind::missing || take_attributes(fd, to.st));
            if (fd >= 0) ::close(fd);
            if (!kept) {
                copy_in_place(from, to);  // someone else's file: keep its inode instead
                continue;
            }
            if (::rename(from.c_str(), to.final.c_str()) == 0) continue;
            if (errno != EXDEV) throw write_error(to.user, errno);
        }
        place_file(from, to);
    }
}

}  // namespace mtool::exec
