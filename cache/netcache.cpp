#include "cache/netcache.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "src/core/fileutil.h"
#include "src/core/magick.h"

namespace mtool::cache {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = "mtool-netcache 2";
/// Flags for opening anything that already exists in the cache: never through a link, never
/// blocking on a planted FIFO, never becoming a controlling terminal.
constexpr int kOpenExisting = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;

std::string hex(const unsigned char* md, unsigned n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
        out += digits[md[i] >> 4];
        out += digits[md[i] & 15];
    }
    return out;
}

std::string sha256_hex(const std::string& text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr);
    return hex(md, n);
}

/// Incremental SHA-256 of a file's contents.
class Hasher {
public:
    Hasher() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
    ~Hasher() { EVP_MD_CTX_free(ctx_); }
    Hasher(const Hasher&) = delete;
    Hasher& operator=(const Hasher&) = delete;
    void update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
    std::string done() {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        EVP_DigestFinal_ex(ctx_, md, &n);
        return hex(md, n);
    }

private:
    EVP_MD_CTX* ctx_;
};

/// SHA-256 of everything in `fd` from offset 0 (pread: the offset stays for the next reader).
std::optional<std::string> sha256_fd(int fd) {
    Hasher h;
    std::vector<char> buf(size_t{4} << 20);
    for (off_t at = 0;;) {
        ssize_t n = ::pread(fd, buf.data(), buf.size(), at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) return h.done();
        h.update(buf.data(), static_cast<size_t>(n));
        at += n;
    }
}

/// ImageMagick's size syntax: 1000MiB (binary), 2GB (decimal), plain bytes.
uint64_t parse_size(const std::string& v, uint64_t fallback) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || !(d >= 0)) return fallback;
    static const std::string prefixes = "KMGTPE";
    const size_t prefix =
        *end ? prefixes.find(static_cast<char>(std::toupper(static_cast<unsigned char>(*end))))
             : std::string::npos;
    if (prefix != std::string::npos) {
        const int power = static_cast<int>(prefix) + 1;
        ++end;
        double base = 1000.0;
        if (*end == 'i') {
            base = 1024.0;
            ++end;
        }
        for (int i = 0; i < power; ++i) d *= base;
    }
    if (*end == 'B' || *end == 'b') ++end;
    return *end ? fallback : static_cast<uint64_t>(d);
}

std::vector<std::string> split_paths(const std::string& v) {
    std::vector<std::string> out;
    std::stringstream ss(v);
    std::string part;
    while (std::getline(ss, part, ':'))
        if (!part.empty()) {
            char* r = realpath(part.c_str(), nullptr);
            out.push_back(r ? r : part);
            std::free(r);
        }
    return out;
}

bool under(const std::string& path, const std::string& dir) {
    if (dir.empty()) return false;
    if (path.compare(0, dir.size(), dir) != 0) return false;
    return path.size() == dir.size() || path[dir.size()] == '/' || dir.back() == '/';
}

int64_t mtime_ns(const struct stat& st) {
    return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

struct Meta {
    std::string path;
    uint64_t size = 0;
    int64_t mtime = 0;
    uint64_t ino = 0, dev = 0;
    std::string sha256;
};

/// Everything in a small file opened relative to `dfd` (the caller checked nothing yet).
std::optional<std::string> slurp_at(int dfd, const std::string& name, struct stat* st = nullptr) {
    int fd = openat(dfd, name.c_str(), O_RDONLY | kOpenExisting);
    if (fd < 0) return std::nullopt;
    struct stat s;
    std::string text;
    if (fstat(fd, &s) == 0 && S_ISREG(s.st_mode) && s.st_size < (1 << 20)) {
        text.resize(static_cast<size_t>(s.st_size));
        ssize_t n = ::pread(fd, text.data(), text.size(), 0);
        text.resize(n > 0 ? static_cast<size_t>(n) : 0);
    } else {
        ::close(fd);
        return std::nullopt;
    }
    ::close(fd);
    if (st) *st = s;
    return text;
}

std::optional<Meta> parse_meta(const std::string& text) {
    std::istringstream in(text);
    std::string marker, sha_key;
    Meta m;
    if (!std::getline(in, marker) || marker != kMarker) return std::nullopt;
    if (!std::getline(in, m.path) || !(in >> m.size >> m.mtime >> m.ino >> m.dev >> sha_key >> m.sha256) ||
        sha_key != "sha256" || m.sha256.size() != 64)
        return std::nullopt;
    return m;
}

std::string random_suffix() {
    static thread_local std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(getpid()));
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
    return buf;
}

/// A new temporary `PREFIX.RANDOM.tmp` in `dfd`, created exclusively and locked (LOCK_EX) for as
/// long as its descriptor is open, so a sweeper can tell a live writer from a dead one.
int create_temp(int dfd, const std::string& prefix, mode_t mode, std::string& name) {
    for (int attempt = 0; attempt < 32; ++attempt) {
        name = prefix + "." + random_suffix() + ".tmp";
        int fd = openat(dfd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0 && errno == EEXIST) continue;
        if (fd < 0) return -1;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fchmod(fd, mode) != 0) {
            ::close(fd);
            unlinkat(dfd, name.c_str(), 0);
            return -1;
        }
        return fd;
    }
    errno = EEXIST;
    return -1;
}

/// Replaces `name` in `dfd` with `text`, through an exclusive temporary and a rename.
bool write_at_atomically(int dfd, const std::string& name, const std::string& text, mode_t mode) {
    std::string tmp;
    int fd = create_temp(dfd, name, mode, tmp);
    if (fd < 0) return false;
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = (::close(fd) == 0) && ok;
    if (ok && renameat(dfd, tmp.c_str(), dfd, name.c_str()) == 0) return true;
    unlinkat(dfd, tmp.c_str(), 0);
    return false;
}

/// Removes `*.tmp` files of this user in `dfd` whose writer is gone (their lock is free).
void sweep_temps(int dfd) {
    int d2 = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d2 < 0) return;
    DIR* d = fdopendir(d2);
    if (!d) {
        ::close(d2);
        return;
    }
    std::vector<std::string> dead;
    while (dirent* e = readdir(d)) {
        const size_t len = std::strlen(e->d_name);
        if (len < 5 || std::strcmp(e->d_name + len - 4, ".tmp") != 0) continue;
        int fd = openat(dfd, e->d_name, O_RDONLY | kOpenExisting);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            flock(fd, LOCK_EX | LOCK_NB) == 0)
            dead.push_back(e->d_name);
        ::close(fd);
    }
    closedir(d);
    for (const auto& n : dead) unlinkat(dfd, n.c_str(), 0);
}

/// Creates directory `name` in `dfd` with exactly `mode` (only a directory mtool creates has its
/// mode set) or opens the existing one; never through a link.
int open_subdir(int dfd, const char* name, mode_t mode, bool& created) {
    created = mkdirat(dfd, name, 0700) == 0;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && created) fchmod(fd, mode);
    return fd;
}

}  // namespace

std::string slow_fs_name(long t) {
    switch (static_cast<unsigned long>(t) & 0xffffffffUL) {
        case 0x6969:
            return "nfs";
        case 0xFF534D42:
            return "cifs";
        case 0xFE534D42:
            return "smb2";
        case 0x517B:
            return "smb";
        case 0x65735546:
            return "fuse";
        case 0x01021997:
            return "9p";
        case 0x9660:
            return "iso9660";
        case 0x15013346:
            return "udf";
        case 0x00C36400:
            return "ceph";
        case 0x5346414F:
            return "afs";
        case 0x0BD00BD0:
            return "lustre";
        case 0x47504653:
            return "gpfs";
        case 0x73757245:
            return "coda";
        case 0x564C:
            return "ncp";
        case 0x7461636F:
            return "ocfs2";
        default:
            return "";
    }
}

NetCacheConfig NetCacheConfig::resolve(const _ImageInfo* info) {
    NetCacheConfig c;
    auto define = [&](const char* key) -> std::optional<std::string> {
        const char* v = info ? GetImageOption(info, key) : nullptr;
        if (v) return std::string(v);
        return std::nullopt;
    };
    auto policy = [](const char* name) -> std::optional<std::string> {
        char* v = GetPolicyValue(name);
        if (!v) return std::nullopt;
        std::string s = v;
        RelinquishMagickMemory(v);
        return s;
    };
    auto env = [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        if (v) return std::string(v);
        return std::nullopt;
    };
    if (auto v = define("netcache:dir"))
        c.dir = *v;
    else if (auto p = policy("cache:netcache-dir"))
        c.dir = *p;
    else if (auto e = env("MTOOL_NETCACHE_DIR"))
        c.dir = *e;
    std::optional<std::string> size = define("netcache:size");
    if (!size) size = policy("cache:netcache-size");
    if (!size) size = env("MTOOL_NETCACHE_SIZE");
    if (size) c.size = parse_size(*size, c.size);
    std::optional<std::string> shared = define("netcache:shared");
    if (!shared) shared = policy("cache:netcache-shared");
    if (!shared) shared = env("MTOOL_NETCACHE_SHARED");
    if (shared) c.shared = !strcasecmp(shared->c_str(), "group");
    if (auto v = define("netcache:paths")) c.paths = split_paths(*v);
    if (auto v = define("netcache:exclude")) c.exclude = split_paths(*v);
    if (auto v = define("netcache:writecache")) c.writecache = IsStringTrue(v->c_str()) != MagickFalse;
    if (auto v = define("netcache:debug")) c.debug = IsStringTrue(v->c_str()) != MagickFalse;
    return c;
}

NetCache::Lease::~Lease() {
    if (data_ >= 0) ::close(data_);
    if (lock_ >= 0) ::close(lock_);  // releases the shared lock
}

bool NetCache::trusted_owner(const struct stat& st) const {
    if (st.st_uid == geteuid() || st.st_uid == 0) return true;
    return cfg_.shared && st.st_gid == gid_;
}

bool NetCache::trusted_dir(const struct stat& st) const {
    return S_ISDIR(st.st_mode) && trusted_owner(st) && !(st.st_mode & S_IWOTH);
}

bool NetCache::trusted_file(const struct stat& st, bool data) const {
    const mode_t forbidden = data ? (S_IWGRP | S_IWOTH) : S_IWOTH;
    return S_ISREG(st.st_mode) && st.st_nlink == 1 && trusted_owner(st) && !(st.st_mode & forbidden);
}

NetCache::NetCache(NetCacheConfig cfg, Diagnostics& diag) : cfg_(std::move(cfg)), diag_(diag) {
    if (cfg_.dir.empty()) return;
    auto warn = [&](const std::string& why) {
        diag_.warn("netcache: " + why + "; caching disabled", cfg_.dir, "netcache.c/OpenNetCache");
    };
    // The directory itself: created 0775 (user and group full access, others read-only) when
    // missing; an existing one is used as it is, never chmod'ed.
    root_ = ::open(cfg_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_ < 0 && errno == ENOENT) {
        std::error_code ec;
        fs::path parent = fs::path(cfg_.dir).parent_path();
        if (!parent.empty()) fs::create_directories(parent, ec);
        if (::mkdir(cfg_.dir.c_str(), 0700) == 0) {
            root_ = ::open(cfg_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (root_ >= 0) fchmod(root_, 0775);
        } else {
            root_ = ::open(cfg_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
    }
    struct stat st;
    if (root_ < 0 || fstat(root_, &st) != 0) {
        warn(std::string("unable to create the cache directory: ") + std::strerror(errno));
        return;
    }
    gid_ = st.st_gid;
    if (!S_ISDIR(st.st_mode) || !trusted_owner(st) || (st.st_mode & S_IWOTH)) {
        warn(st.st_mode & S_IWOTH ? "the cache directory is writable by others"
                                  : "the cache directory belongs to another user");
        return;
    }
    struct statfs sfs;
    if (fstatfs(root_, &sfs) != 0) {
        warn(std::string("unable to inspect the cache directory: ") + std::strerror(errno));
        return;
    }
    if (std::string t = slow_fs_name(static_cast<long>(sfs.f_type)); !t.empty()) {
        warn("the cache directory is on a network file system (" + t + ")");
        return;
    }
    // data/ like the directory, tmp/ sticky as well: every user removes only their own files.
    bool created = false;
    data_ = open_subdir(root_, "data", 0775, created);
    tmp_ = open_subdir(root_, "tmp", 01775, created);
    struct stat ds, ts;
    if (data_ < 0 || tmp_ < 0 || fstat(data_, &ds) != 0 || fstat(tmp_, &ts) != 0) {
        warn(std::string("unable to create the cache directory: ") + std::strerror(errno));
        return;
    }
    if (!trusted_dir(ds) || !trusted_dir(ts)) {
        warn("a subdirectory of the cache belongs to another user or is writable by others");
        return;
    }
    if (!(ts.st_mode & S_ISVTX) && ts.st_uid == geteuid()) fchmod(tmp_, (ts.st_mode & 07777) | S_ISVTX);
    struct stat ms;
    std::optional<std::string> marker = slurp_at(root_, ".netcache", &ms);
    if (!marker || *marker != std::string(kMarker) + "\n" || !trusted_file(ms, false)) {
        if (!write_at_atomically(root_, ".netcache", std::string(kMarker) + "\n", 0664)) {
            warn(std::string("unable to write to the cache directory: ") + std::strerror(errno));
            return;
        }
    }
    if (cfg_.shared) {
        const int n = getgroups(0, nullptr);
        groups_.resize(static_cast<size_t>(std::max(n, 0)));
        if (n > 0) groups_.resize(static_cast<size_t>(getgroups(n, groups_.data())));
        groups_.push_back(getegid());
        if (std::find(groups_.begin(), groups_.end(), gid_) == groups_.end()) {
            warn("netcache:shared=group, but this user is not in the cache directory's group");
            return;
        }
    }
    enabled_ = true;
    trim();  // a lowered size evicts at once
}

NetCache::~NetCache() {
    for (int fd : {tmp_, data_, root_})
        if (fd >= 0) ::close(fd);
}

void NetCache::log(const std::string& msg) const {
    if (!cfg_.debug) return;
    // pid and wall-clock microseconds, so logs of many processes can be merged in order.
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    std::fprintf(stderr, "netcache: %s [pid %d t %lld.%06ld]\n", msg.c_str(), static_cast<int>(getpid()),
                 static_cast<long long>(ts.tv_sec), ts.tv_nsec / 1000);
}

bool NetCache::is_slow(const std::string& resolved) const {
    for (const auto& d : cfg_.exclude)
        if (under(resolved, d)) return false;
    for (const auto& d : cfg_.paths)
        if (under(resolved, d)) return true;
    struct statfs sfs;
    if (statfs(resolved.c_str(), &sfs) != 0) return false;
    return !slow_fs_name(static_cast<long>(sfs.f_type)).empty();
}

int NetCache::bucket(const std::string& key, bool create) const {
    const std::string name = key.substr(0, 2);
    bool created = false;
    int fd = create ? open_subdir(data_, name.c_str(), 0775, created)
                    : openat(data_, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !trusted_dir(st))) {
        ::close(fd);
        log("untrusted bucket data/" + name + ": reading the original");
        return -1;
    }
    return fd;
}

int NetCache::open_lock(int dfd, const std::string& name) const {
    // Lock files are only ever locked, never written: read-only descriptors (flock does not
    // need write access), created exclusively, and an existing one must be a trusted regular
    // file with one link, so two lock names can never be one inode (no self-deadlock).
    int fd = openat(dfd, name.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
        fchmod(fd, 0644);
        return fd;
    }
    if (errno != EEXIST) return -1;
    fd = openat(dfd, name.c_str(), O_RDONLY | kOpenExisting);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !trusted_file(st, false))) {
        ::close(fd);
        log("untrusted lock file " + name + ": reading the original");
        return -1;
    }
    return fd;
}

namespace {
/// The counters of the stats file ("hits N" lines); a corrupt file counts from zero again.
NetCacheStats parse_stats(const std::string& text) {
    NetCacheStats s;
    std::istringstream in(text);
    std::string k;
    uint64_t v;
    while (in >> k >> v) {
        if (k == "hits")
            s.hits = v;
        else if (k == "misses")
            s.misses = v;
        else if (k == "copies")
            s.copies = v;
        else if (k == "bytes_saved")
            s.bytes_saved = v;
    }
    return s;
}
}  // namespace

void NetCache::count(uint64_t hits, uint64_t misses, uint64_t copies, uint64_t saved) {
    int fd = open_lock(root_, "stats.lock");
    if (fd < 0) return;
    if (flock(fd, LOCK_EX) == 0) {
        struct stat st;
        const NetCacheStats s = parse_stats(slurp_at(root_, "stats", &st).value_or(""));
        std::ostringstream out;
        out << "hits " << s.hits + hits << "\nmisses " << s.misses + misses << "\ncopies "
            << s.copies + copies << "\nbytes_saved " << s.bytes_saved + saved << "\n";
        write_at_atomically(root_, "stats", out.str(), 0664);
    }
    ::close(fd);
}

bool NetCache::copy_in(int orig, const std::string& resolved, const struct stat& st, int bfd,
                       const std::string& key) {
    const std::string shown = cfg_.dir + "/data/" + key.substr(0, 2) + "/" + key;
    std::string tmp;
    int out = create_temp(tmp_, key, 0600, tmp);
    if (out < 0) {
        log("copy of " + resolved + " failed (" + std::strerror(errno) + "): reading the original");
        return false;
    }
    // The copy grants no more than the original: readable by its group only when the original
    // is readable by that same group (or by everyone), never by others.
    struct stat cs;
    if (fstat(out, &cs) == 0 &&
        ((st.st_mode & S_IROTH) || ((st.st_mode & S_IRGRP) && st.st_gid == cs.st_gid)))
        fchmod(out, 0640);
    auto t0 = std::chrono::steady_clock::now();
    Hasher h;
    bool ok = true;
    int err = 0;
    {
        std::vector<char> buf(size_t{4} << 20);
        for (off_t at = 0; ok;) {
            ssize_t n = ::pread(orig, buf.data(), buf.size(), at);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                ok = false;
                err = errno;
                break;
            }
            if (n == 0) break;
            h.update(buf.data(), static_cast<size_t>(n));
            for (ssize_t done = 0; done < n;) {
                ssize_t w = ::write(out, buf.data() + done, static_cast<size_t>(n - done));
                if (w < 0 && errno == EINTR) continue;
                if (w <= 0) {
                    ok = false;
                    err = w == 0 ? ENOSPC : errno;
                    break;
                }
                done += w;
            }
            at += n;
        }
    }
    const std::string sum = h.done();
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    futimens(out, times);  // the copy carries the original's modification time
    struct stat after, copied;
    ok = ok && fstat(orig, &after) == 0 && after.st_size == st.st_size && mtime_ns(after) == mtime_ns(st);
    ok = ok && fstat(out, &copied) == 0 && copied.st_size == st.st_size;
    if (ok) {
        unlinkat(bfd, (key + ".meta").c_str(), 0);  // no valid-looking entry until both parts are in
        ok = renameat(tmp_, tmp.c_str(), bfd, key.c_str()) == 0;
        if (!ok) err = errno;
    }
    ::close(out);  // after the rename: until then the temporary stays locked against sweepers
    if (ok) {
        std::ostringstream meta;
        meta << kMarker << "\n"
             << resolved << "\n"
             << st.st_size << " " << mtime_ns(st) << " " << st.st_ino << " " << st.st_dev << "\nsha256 "
             << sum << "\n";
        ok = write_at_atomically(bfd, key + ".meta", meta.str(), 0644);
        if (!ok) err = errno;
    }
    if (!ok) {
        unlinkat(tmp_, tmp.c_str(), 0);
        log("copy of " + resolved + " failed (" + std::strerror(err ? err : EIO) + "): reading the original");
        return false;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char msg[64];
    std::snprintf(msg, sizeof msg, " (%.3f s)", secs);
    log("copy " + resolved + " -> " + shown + msg);
    return true;
}

std::optional<NetCache::Lease> NetCache::open(const std::string& path) {
    if (!enabled_) return std::nullopt;
    try {
        char* r = realpath(path.c_str(), nullptr);  // one entry however many links lead here
        if (!r) return std::nullopt;
        std::string resolved = r;
        std::free(r);
        if (!is_slow(resolved)) {
            log("skip " + resolved + ": local file system");
            return std::nullopt;
        }
        // The reader must be able to open the original itself (a cache never grants access);
        // the copy is made from this very descriptor.
        int orig = ::open(resolved.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (orig < 0) return std::nullopt;
        struct Closer {
            int fd;
            ~Closer() { ::close(fd); }
        } orig_closer{orig};
        struct stat st;
        if (fstat(orig, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
        if (static_cast<uint64_t>(st.st_size) > cfg_.size) {
            log("skip " + resolved + ": larger than the cache");
            return std::nullopt;
        }
        const std::string key = sha256_hex(resolved);
        const std::string shown = cfg_.dir + "/data/" + key.substr(0, 2) + "/" + key;
        int bfd = bucket(key, true);
        if (bfd < 0) return std::nullopt;
        struct Closer2 {
            int fd;
            ~Closer2() { ::close(fd); }
        } bucket_closer{bfd};
        int lock = open_lock(bfd, key + ".lock");
        if (lock < 0) {
            log("lock " + shown + ".lock: " + std::strerror(errno) + ": reading the original");
            return std::nullopt;
        }
        // A valid entry: trusted .meta describing this very original, a trusted data file of
        // its size whose SHA-256 is the one recorded. Returns the data file open, or -1.
        bool stale = false;
        auto valid = [&]() -> int {
            struct stat ms;
            std::optional<std::string> text = slurp_at(bfd, key + ".meta", &ms);
            stale = text.has_value();
            if (!text || !trusted_file(ms, true)) return -1;
            std::optional<Meta> m = parse_meta(*text);
            if (!m || m->path != resolved || m->size != static_cast<uint64_t>(st.st_size) ||
                m->mtime != mtime_ns(st) || m->ino != st.st_ino || m->dev != st.st_dev)
                return -1;
            int fd = openat(bfd, key.c_str(), O_RDONLY | kOpenExisting);
            struct stat ds;
            if (fd < 0) return -1;
            if (fstat(fd, &ds) != 0 || !trusted_file(ds, true) || ds.st_size != st.st_size ||
                sha256_fd(fd).value_or("") != m->sha256) {
                log("corrupt or untrusted copy of " + resolved);
                ::close(fd);
                return -1;
            }
            return fd;
        };
        auto lease = [&](int data) {
            char name[64];
            std::snprintf(name, sizeof name, "/proc/self/fd/%d", data);
            return Lease(access(name, R_OK) == 0 ? std::string(name) : shown, lock, data);
        };
        auto hit = [&](int data) {
            utimensat(bfd, (key + ".meta").c_str(), nullptr, AT_SYMLINK_NOFOLLOW);  // last use, for LRU
            count(1, 0, 0, static_cast<uint64_t>(st.st_size));
            log("hit " + resolved + " -> " + shown);
            return lease(data);
        };
        auto give_up = [&](const char* why) -> std::optional<Lease> {
            ::close(lock);
            if (why) log(std::string(why) + resolved + ": reading the original");
            return std::nullopt;
        };
        if (flock(lock, LOCK_SH) != 0) return give_up("lock failed for ");
        if (int data = valid(); data >= 0) return hit(data);
        // Miss: one process copies, the others wait for it and then hit.
        if (flock(lock, LOCK_EX) != 0) return give_up("lock failed for ");
        if (int data = valid(); data >= 0) {
            ::close(data);
            if (flock(lock, LOCK_SH) != 0) return give_up("lock failed for ");
            if (int again = valid(); again >= 0) return hit(again);
            return give_up("copy evicted before use: ");
        }
        log(std::string(stale ? "stale " : "miss ") + resolved);
        trim(static_cast<uint64_t>(st.st_size));
        if (!copy_in(orig, resolved, st, bfd, key)) {
            count(0, 1, 0, 0);
            return give_up(nullptr);
        }
        count(0, 1, 1, 0);
        // flock converts a lock by releasing it first: an evictor may slip in between, so the
        // copy is checked again under the shared lock.
        if (flock(lock, LOCK_SH) != 0) return give_up("lock failed for ");
        if (int data = valid(); data >= 0) return lease(data);
        return give_up("copy evicted before use: ");
    } catch (const std::exception& e) {
        log(std::string("error: ") + e.what() + ": reading the original");
        return std::nullopt;
    }
}

struct NetCache::Scanned {
    std::string bucket;  ///< data/HH name
    std::string key;
    uint64_t bytes = 0;
    int64_t last_use = 0;
    bool trusted = false;  ///< data and .meta are files this user may rely on
    std::optional<Meta> meta;
};

std::vector<NetCache::Scanned> NetCache::scan() const {
    std::vector<Scanned> out;
    int d2 = openat(data_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* top = d2 >= 0 ? fdopendir(d2) : nullptr;
    if (!top) {
        if (d2 >= 0) ::close(d2);
        return out;
    }
    std::vector<std::string> buckets;
    while (dirent* e = readdir(top))
        if (std::strlen(e->d_name) == 2) buckets.push_back(e->d_name);
    closedir(top);
    for (const auto& b : buckets) {
        int bfd = openat(data_, b.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (bfd < 0) continue;
        struct stat bs;
        int b2 = dup(bfd);
        DIR* d = (fstat(bfd, &bs) == 0 && trusted_dir(bs) && b2 >= 0) ? fdopendir(b2) : nullptr;
        if (!d) {
            if (b2 >= 0) ::close(b2);
            ::close(bfd);
            continue;
        }
        while (dirent* e = readdir(d)) {
            const std::string name = e->d_name;
            if (name.size() != 64 || name.find('.') != std::string::npos) continue;
            Scanned s;
            s.bucket = b;
            s.key = name;
            struct stat st, ms;
            if (fstatat(bfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
            s.bytes = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
            std::optional<std::string> text = slurp_at(bfd, name + ".meta", &ms);
            if (text) {
                s.meta = parse_meta(*text);
                s.last_use = mtime_ns(ms);
            }
            s.trusted = s.meta && trusted_file(st, true) && trusted_file(ms, true);
            out.push_back(std::move(s));
        }
        closedir(d);
        ::close(bfd);
    }
    return out;
}

bool NetCache::evict(const Scanned& s, bool log_it) {
    // Removed only if no process uses it (exclusive lock without waiting); the log line comes
    // first, so a process killed halfway never hides an eviction from the log.
    int bfd = openat(data_, s.bucket.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (bfd < 0) return false;
    bool done = false;
    int fd = open_lock(bfd, s.key + ".lock");
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
        if (log_it)
            log("evict " + (s.meta ? s.meta->path : cfg_.dir + "/data/" + s.bucket + "/" + s.key) + " (" +
                std::to_string(s.bytes) + " bytes)");
        unlinkat(bfd, (s.key + ".meta").c_str(), 0);
        unlinkat(bfd, s.key.c_str(), 0);
        done = true;
    }
    if (fd >= 0) ::close(fd);
    ::close(bfd);
    return done;
}

void NetCache::trim(uint64_t room) {
    if (!enabled_) return;
    // Temporaries of dead processes: copies in tmp/, .meta and stats temporaries.
    sweep_temps(tmp_);
    sweep_temps(root_);
    std::vector<Scanned> all = scan();
    {
        std::vector<std::string> seen;
        for (const auto& s : all)
            if (std::find(seen.begin(), seen.end(), s.bucket) == seen.end()) {
                seen.push_back(s.bucket);
                if (int bfd =
                        openat(data_, s.bucket.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    bfd >= 0) {
                    sweep_temps(bfd);
                    ::close(bfd);
                }
            }
    }
    uint64_t total = 0;
    for (const auto& s : all) total += s.bytes;
    const uint64_t limit = cfg_.size > room ? cfg_.size - room : 0;
    if (total <= limit) return;
    std::sort(all.begin(), all.end(), [](const Scanned& a, const Scanned& b) {
        // Entries that cannot be used go first, then least recently used.
        if (a.trusted != b.trusted) return !a.trusted;
        return a.last_use < b.last_use;
    });
    for (const auto& s : all) {
        if (total <= limit) break;
        if (evict(s, true)) total -= s.bytes;
    }
}

NetCacheStats NetCache::stats() const {
    NetCacheStats s = parse_stats(slurp_at(root_, "stats").value_or(""));
    for (const auto& e : scan())
        if (e.trusted) {
            ++s.entries;
            s.bytes += e.bytes;
        }
    return s;
}

std::vector<NetCacheEntry> NetCache::list() const {
    std::vector<NetCacheEntry> out;
    for (const auto& e : scan())
        if (e.trusted) out.push_back(NetCacheEntry{e.meta->path, e.bytes, e.last_use});
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.last_use > b.last_use; });
    return out;
}

size_t NetCache::purge() {
    size_t n = 0;
    for (const auto& e : scan()) n += evict(e, false);
    unlinkat(root_, "stats", 0);
    return n;
}

std::string NetCache::staging_dir() {
    // Outputs are staged in tmp/ (sticky, verified at open) in private, locked directories of
    // their own (exec::OutputStage), swept like any other stage once their process is gone.
    return enabled_ ? cfg_.dir + "/tmp" : std::string();
}

}  // namespace mtool::cache
