#include "cache/netcache.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
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
#include <fstream>
#include <functional>
#include <sstream>

#include "src/core/fileutil.h"
#include "src/core/magick.h"

namespace mtool::cache {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMarker = "mtool-netcache 1";
constexpr const char* kWhere = "netcache.c/NetCache";

std::string sha256_hex(const std::string& text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr);
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

/// ImageMagick's size syntax: 1000MiB (binary), 2GB (decimal), plain bytes.
uint64_t parse_size(const std::string& v, uint64_t fallback) {
    char* end = nullptr;
    double d = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || !(d >= 0)) return fallback;
    static const std::string prefixes = "KMGTPE";
    const size_t prefix =
        *end ? prefixes.find(static_cast<char>(std::toupper(static_cast<unsigned char>(*end)))) : std::string::npos;
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
};

std::optional<Meta> read_meta(const std::string& file) {
    std::ifstream in(file);
    std::string marker;
    Meta m;
    if (!std::getline(in, marker) || marker != kMarker) return std::nullopt;
    if (!std::getline(in, m.path) || !(in >> m.size >> m.mtime >> m.ino >> m.dev)) return std::nullopt;
    return m;
}

bool write_file_atomically(const std::string& file, const std::string& text) {
    std::string tmp = file + "." + std::to_string(getpid()) + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0664);
    if (fd < 0) return false;
    fchmod(fd, 0664);  // group members share the cache whatever the umask
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = (::close(fd) == 0) && ok;
    if (ok && ::rename(tmp.c_str(), file.c_str()) == 0) return true;
    ::unlink(tmp.c_str());
    return false;
}

bool pid_alive(long pid) { return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH); }

}  // namespace

std::string slow_fs_name(long t) {
    switch (static_cast<unsigned long>(t) & 0xffffffffUL) {
    case 0x6969: return "nfs";
    case 0xFF534D42: return "cifs";
    case 0xFE534D42: return "smb2";
    case 0x517B: return "smb";
    case 0x65735546: return "fuse";
    case 0x01021997: return "9p";
    case 0x9660: return "iso9660";
    case 0x15013346: return "udf";
    case 0x00C36400: return "ceph";
    case 0x5346414F: return "afs";
    case 0x0BD00BD0: return "lustre";
    case 0x47504653: return "gpfs";
    case 0x73757245: return "coda";
    case 0x564C: return "ncp";
    case 0x7461636F: return "ocfs2";
    default: return "";
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
    if (auto v = define("netcache:dir")) c.dir = *v;
    else if (auto p = policy("cache:netcache-dir")) c.dir = *p;
    else if (auto e = env("MTOOL_NETCACHE_DIR")) c.dir = *e;
    std::optional<std::string> size = define("netcache:size");
    if (!size) size = policy("cache:netcache-size");
    if (!size) size = env("MTOOL_NETCACHE_SIZE");
    if (size) c.size = parse_size(*size, c.size);
    if (auto v = define("netcache:paths")) c.paths = split_paths(*v);
    if (auto v = define("netcache:exclude")) c.exclude = split_paths(*v);
    if (auto v = define("netcache:writecache")) c.writecache = IsStringTrue(v->c_str()) != MagickFalse;
    if (auto v = define("netcache:debug")) c.debug = IsStringTrue(v->c_str()) != MagickFalse;
    return c;
}

NetCache::Lease::~Lease() {
    if (fd_ >= 0) ::close(fd_);  // releases the shared lock
}

NetCache::NetCache(NetCacheConfig cfg, Diagnostics& diag) : cfg_(std::move(cfg)), diag_(diag) {
    if (cfg_.dir.empty()) return;
    auto warn = [&](const std::string& why) {
        diag_.warn("netcache: " + why + "; caching disabled", cfg_.dir, "netcache.c/OpenNetCache");
    };
    const mode_t old = umask(0002);  // 0775 directories, 0664 files
    std::error_code ec;
    fs::create_directories(cfg_.dir + "/data", ec);
    fs::create_directories(cfg_.dir + "/tmp", ec);
    umask(old);
    struct statfs sfs;
    if (ec || statfs(cfg_.dir.c_str(), &sfs) != 0) {
        warn(std::string("unable to create the cache directory: ") + (ec ? ec.message() : std::strerror(errno)));
        return;
    }
    if (std::string t = slow_fs_name(static_cast<long>(sfs.f_type)); !t.empty()) {
        warn("the cache directory is on a network file system (" + t + ")");
        return;
    }
    chmod(cfg_.dir.c_str(), 0775);
    const std::string marker = cfg_.dir + "/.netcache";
    std::ifstream in(marker);
    std::string line;
    if (!std::getline(in, line) || line != kMarker) {
        if (!write_file_atomically(marker, std::string(kMarker) + "\n")) {
            warn(std::string("unable to write to the cache directory: ") + std::strerror(errno));
            return;
        }
    }
    if (access(cfg_.dir.c_str(), W_OK) != 0) {
        warn(std::string("cache directory not writable: ") + std::strerror(errno));
        return;
    }
    enabled_ = true;
    trim();  // a lowered size evicts at once
}

NetCache::~NetCache() {
    if (!staging_.empty()) {
        std::error_code ec;
        fs::remove_all(staging_, ec);
    }
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

void NetCache::count(uint64_t hits, uint64_t misses, uint64_t copies, uint64_t saved) {
    const std::string file = cfg_.dir + "/stats";
    int fd = ::open((file + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664);
    if (fd < 0) return;
    if (flock(fd, LOCK_EX) == 0) {
        NetCacheStats s;
        std::ifstream in(file);
        std::string k;
        uint64_t v;
        while (in >> k >> v) {  // a corrupt file counts from zero again
            if (k == "hits") s.hits = v;
            else if (k == "misses") s.misses = v;
            else if (k == "copies") s.copies = v;
            else if (k == "bytes_saved") s.bytes_saved = v;
        }
        std::ostringstream out;
        out << "hits " << s.hits + hits << "\nmisses " << s.misses + misses << "\ncopies " << s.copies + copies
            << "\nbytes_saved " << s.bytes_saved + saved << "\n";
        write_file_atomically(file, out.str());
    }
    ::close(fd);
}

bool NetCache::copy_in(const std::string& resolved, const struct stat& st, const std::string& key) {
    const std::string base = cfg_.dir + "/data/" + key.substr(0, 2) + "/" + key;
    const std::string tmp = cfg_.dir + "/tmp/" + key + "." + std::to_string(getpid()) + ".tmp";
    int in = ::open(resolved.c_str(), O_RDONLY | O_CLOEXEC);  // originals are only ever read
    if (in < 0) return false;
    int out = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0664);
    if (out < 0) {
        ::close(in);
        return false;
    }
    fchmod(out, 0664);
    auto t0 = std::chrono::steady_clock::now();
    bool ok = copy_fd(in, out);
    int err = errno;
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    futimens(out, times);  // the copy carries the original's modification time
    ok = (::close(out) == 0) && ok;
    struct stat after;
    ok = ok && fstat(in, &after) == 0 && after.st_size == st.st_size && mtime_ns(after) == mtime_ns(st);
    ::close(in);
    struct stat copied;
    ok = ok && ::stat(tmp.c_str(), &copied) == 0 && copied.st_size == st.st_size;
    if (ok) {
        ::unlink((base + ".meta").c_str());  // no valid-looking entry until both parts are in
        ok = ::rename(tmp.c_str(), base.c_str()) == 0;
    }
    if (ok) {
        std::ostringstream meta;
        meta << kMarker << "\n" << resolved << "\n" << st.st_size << " " << mtime_ns(st) << " " << st.st_ino << " "
             << st.st_dev << "\n";
        ok = write_file_atomically(base + ".meta", meta.str());
    }
    if (!ok) {
        ::unlink(tmp.c_str());
        log("copy of " + resolved + " failed (" + std::strerror(err ? err : errno) + "): reading the original");
        return false;
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char msg[64];
    std::snprintf(msg, sizeof msg, " (%.3f s)", secs);
    log("copy " + resolved + " -> " + base + msg);
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
        struct stat st;
        if (::stat(resolved.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
        if (static_cast<uint64_t>(st.st_size) > cfg_.size) {
            log("skip " + resolved + ": larger than the cache");
            return std::nullopt;
        }
        const std::string key = sha256_hex(resolved);
        const std::string dir = cfg_.dir + "/data/" + key.substr(0, 2);
        const mode_t old = umask(0002);
        ::mkdir(dir.c_str(), 0775);
        umask(old);
        const std::string base = dir + "/" + key;
        int fd = ::open((base + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664);
        if (fd >= 0) fchmod(fd, 0664);
        if (fd < 0) {
            log("lock " + base + ".lock: " + std::strerror(errno) + ": reading the original");
            return std::nullopt;
        }
        auto valid = [&] {
            std::optional<Meta> m = read_meta(base + ".meta");
            struct stat data;
            return m && m->path == resolved && m->size == static_cast<uint64_t>(st.st_size) &&
                   m->mtime == mtime_ns(st) && m->ino == st.st_ino && m->dev == st.st_dev &&
                   ::stat(base.c_str(), &data) == 0 && data.st_size == st.st_size;
        };
        auto hit = [&] {
            utimensat(AT_FDCWD, (base + ".meta").c_str(), nullptr, 0);  // last use, for LRU
            count(1, 0, 0, static_cast<uint64_t>(st.st_size));
            log("hit " + resolved + " -> " + base);
            return Lease(base, fd);
        };
        if (flock(fd, LOCK_SH) != 0) {
            ::close(fd);
            return std::nullopt;
        }
        if (valid()) return hit();
        // Miss: one process copies, the others wait for it and then hit.
        if (flock(fd, LOCK_EX) != 0) {
            ::close(fd);
            return std::nullopt;
        }
        if (valid()) {
            if (flock(fd, LOCK_SH) != 0 || !valid()) {
                ::close(fd);
                return std::nullopt;
            }
            return hit();
        }
        log(std::string(::access((base + ".meta").c_str(), F_OK) == 0 ? "stale " : "miss ") + resolved);
        trim(static_cast<uint64_t>(st.st_size));
        if (!copy_in(resolved, st, key)) {
            ::close(fd);
            count(0, 1, 0, 0);
            return std::nullopt;
        }
        count(0, 1, 1, 0);
        // flock converts a lock by releasing it first: an evictor may slip in between, so the
        // copy is checked again under the shared lock.
        if (flock(fd, LOCK_SH) != 0 || !valid()) {
            ::close(fd);
            log("copy of " + resolved + " evicted before use: reading the original");
            return std::nullopt;
        }
        return Lease(base, fd);
    } catch (const std::exception& e) {
        log(std::string("error: ") + e.what() + ": reading the original");
        return std::nullopt;
    }
}

namespace {

struct Scanned {
    std::string base;  ///< data file path
    uint64_t bytes = 0;
    int64_t last_use = 0;
    std::optional<Meta> meta;
};

std::vector<Scanned> scan(const std::string& root) {
    std::vector<Scanned> out;
    std::error_code ec;
    for (fs::directory_iterator sub(root + "/data", ec), end; !ec && sub != end; sub.increment(ec)) {
        if (!sub->is_directory(ec)) continue;
        for (fs::directory_iterator f(sub->path(), ec), e2; !ec && f != e2; f.increment(ec)) {
            const std::string name = f->path().filename().string();
            if (name.size() != 64 || name.find('.') != std::string::npos) continue;
            Scanned s;
            s.base = f->path().string();
            struct stat st, mst;
            if (::stat(s.base.c_str(), &st) != 0) continue;
            s.bytes = static_cast<uint64_t>(st.st_size);
            s.meta = read_meta(s.base + ".meta");
            s.last_use = ::stat((s.base + ".meta").c_str(), &mst) == 0 ? mtime_ns(mst) : 0;
            out.push_back(std::move(s));
        }
        ec.clear();
    }
    return out;
}

/// Removes an entry if no process uses it (exclusive lock without waiting). `before` runs once
/// the lock is held and before anything is removed (the log line comes first, so a process
/// killed halfway never hides an eviction from the log).
bool evict_entry(const std::string& base, const std::function<void()>& before = {}) {
    int fd = ::open((base + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664);
    if (fd < 0) return false;
    bool done = false;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
        if (before) before();
        ::unlink((base + ".meta").c_str());
        ::unlink(base.c_str());
        done = true;
    }
    ::close(fd);
    return done;
}

}  // namespace

void NetCache::trim(uint64_t room) {
    if (!enabled_) return;
    // Copies abandoned by dead processes.
    std::error_code ec;
    for (fs::directory_iterator f(cfg_.dir + "/tmp", ec), end; !ec && f != end; f.increment(ec)) {
        const std::string name = f->path().filename().string();
        auto dot = name.rfind(".tmp");
        auto pdot = name.rfind('.', dot == std::string::npos ? std::string::npos : dot - 1);
        if (dot == std::string::npos || pdot == std::string::npos) continue;
        long pid = std::strtol(name.c_str() + pdot + 1, nullptr, 10);
        if (!pid_alive(pid)) fs::remove_all(f->path(), ec);
    }
    // .meta temporaries (KEY.meta.PID.tmp) left by processes killed while writing them.
    for (fs::directory_iterator sub(cfg_.dir + "/data", ec), end; !ec && sub != end; sub.increment(ec)) {
        std::error_code ec2;
        for (fs::directory_iterator f(sub->path(), ec2), e2; !ec2 && f != e2; f.increment(ec2)) {
            const std::string name = f->path().filename().string();
            auto m = name.find(".meta.");
            if (m == std::string::npos || name.size() < 4 || name.compare(name.size() - 4, 4, ".tmp") != 0) continue;
            if (!pid_alive(std::strtol(name.c_str() + m + 6, nullptr, 10))) fs::remove(f->path(), ec2);
        }
    }
    ec.clear();
    std::vector<Scanned> all = scan(cfg_.dir);
    uint64_t total = 0;
    for (const auto& s : all) total += s.bytes;
    const uint64_t limit = cfg_.size > room ? cfg_.size - room : 0;
    if (total <= limit) return;
    std::sort(all.begin(), all.end(), [](const Scanned& a, const Scanned& b) {
        // Entries without valid metadata go first, then least recently used.
        if (a.meta.has_value() != b.meta.has_value()) return !a.meta.has_value();
        return a.last_use < b.last_use;
    });
    for (const auto& s : all) {
        if (total <= limit) break;
        if (evict_entry(s.base, [&] {
                log("evict " + (s.meta ? s.meta->path : s.base) + " (" + std::to_string(s.bytes) + " bytes)");
            }))
            total -= s.bytes;
    }
}

NetCacheStats NetCache::stats() const {
    NetCacheStats s;
    std::ifstream in(cfg_.dir + "/stats");
    std::string k;
    uint64_t v;
    while (in >> k >> v) {
        if (k == "hits") s.hits = v;
        else if (k == "misses") s.misses = v;
        else if (k == "copies") s.copies = v;
        else if (k == "bytes_saved") s.bytes_saved = v;
    }
    for (const auto& e : scan(cfg_.dir))
        if (e.meta) {
            ++s.entries;
            s.bytes += e.bytes;
        }
    return s;
}

std::vector<NetCacheEntry> NetCache::list() const {
    std::vector<NetCacheEntry> out;
    for (const auto& e : scan(cfg_.dir))
        if (e.meta) out.push_back(NetCacheEntry{e.meta->path, e.bytes, e.last_use});
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.last_use > b.last_use; });
    return out;
}

size_t NetCache::purge() {
    size_t n = 0;
    for (const auto& e : scan(cfg_.dir)) n += evict_entry(e.base);
    ::unlink((cfg_.dir + "/stats").c_str());
    return n;
}

std::string NetCache::staging_dir() {
    if (!enabled_) return "";
    if (staging_.empty()) {
        // Named NAME.PID.tmp like partial copies, so trim() sweeps it once the process is gone.
        for (int attempt = 0; attempt < 16 && staging_.empty(); ++attempt) {
            std::string name = cfg_.dir + "/tmp/out" + std::to_string(std::rand()) + "." + std::to_string(getpid()) + ".tmp";
            if (::mkdir(name.c_str(), 0775) == 0) staging_ = name;
        }
    }
    return staging_;
}

}  // namespace mtool::cache
