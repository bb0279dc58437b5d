#pragma once
// The network cache: a local LRU file cache for inputs on slow file systems (NFS, CIFS/SMB,
// FUSE, 9p, CD-ROM/UDF, ...), shared safely by any number of mtool processes.
//
// Layout of the cache directory (created 0775: user and group full access, others read-only):
//   .netcache                 marker and format version
//   data/HH/KEY               the copy of one original (KEY = SHA-256 of its resolved path)
//   data/HH/KEY.meta          what it is a copy of: path, size, mtime, inode, device
//   data/HH/KEY.lock          flock target: shared while a process reads the copy, exclusive
//                             while one copies it or evicts it (never removed, so every
//                             process locks the same inode)
//   tmp/                      copies in progress (KEY.PID.tmp) and write-cache staging
//   stats                     hits, misses, copies, bytes saved (rewritten atomically)
// The directory is the index: it survives restarts, and an entry whose .meta is missing,
// unreadable or stale is simply copied again. A copy is renamed into place before its .meta is
// written, and the old .meta is removed first, so a process killed mid-copy never leaves an
// entry that looks valid; its temporary file is swept once its pid is gone.
//
// Whatever fails (full disk, permissions, locks, corrupt files), the caller reads the original:
// the worst case is no caching.
#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/core/error.h"

struct _ImageInfo;

namespace mtool::cache {

struct NetCacheConfig {
    std::string dir;                   ///< "" disables the cache
    uint64_t size = uint64_t{1} << 30; ///< bytes the cache may hold
    std::vector<std::string> paths;    ///< directories treated as slow whatever their file system
    std::vector<std::string> exclude;  ///< directories never cached
    bool writecache = false;           ///< stage outputs locally, then one sequential copy
    bool debug = false;                ///< -debug netcache

    /// -define netcache:dir/size/paths/exclude/writecache, else policy.xml
    /// (<policy domain="cache" name="netcache-dir" value="..."/>, netcache-size), else
    /// MTOOL_NETCACHE_DIR / MTOOL_NETCACHE_SIZE.
    static NetCacheConfig resolve(const _ImageInfo* info);
};

struct NetCacheStats {
    uint64_t hits = 0, misses = 0, copies = 0, bytes_saved = 0;
    uint64_t entries = 0, bytes = 0;
};

struct NetCacheEntry {
    std::string path;
    uint64_t size = 0;
    int64_t last_use = 0;  ///< nanoseconds since the epoch
};

/// File system type names by statfs magic, for messages; "" for local file systems.
std::string slow_fs_name(long f_type);

class NetCache {
public:
    /// Opens (creating if needed) the cache of `cfg`; problems become warnings in `diag` and
    /// leave the cache disabled.
    NetCache(NetCacheConfig cfg, Diagnostics& diag);
    ~NetCache();
    bool enabled() const { return enabled_; }
    const NetCacheConfig& config() const { return cfg_; }

    /// A local copy to read instead of `path`, valid while the Lease lives (it holds a shared
    /// lock that keeps eviction away).
    class Lease {
    public:
        Lease(std::string local, int lock_fd) : local_(std::move(local)), fd_(lock_fd) {}
        Lease(Lease&& o) noexcept : local_(std::move(o.local_)), fd_(o.fd_) { o.fd_ = -1; }
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        ~Lease();
        const std::string& path() const { return local_; }

    private:
        std::string local_;
        int fd_;
    };
    /// nullopt: read the original (not slow, excluded, too large, or any failure).
    std::optional<Lease> open(const std::string& path);
    /// Whether `resolved` lives on a slow file system or under netcache:paths (and not under
    /// netcache:exclude).
    bool is_slow(const std::string& resolved) const;

    /// Evicts least recently used entries not in use until the cache holds at most
    /// size - `room` bytes; sweeps temporary files of dead processes.
    void trim(uint64_t room = 0);
    NetCacheStats stats() const;
    std::vector<NetCacheEntry> list() const;
    /// Removes every entry not in use; returns how many were removed.
    size_t purge();
    /// Write cache: a private local directory for staging outputs ("" if unavailable).
    std::string staging_dir();

private:
    void log(const std::string& msg) const;
    void count(uint64_t hits, uint64_t misses, uint64_t copies, uint64_t saved);
    /// Copies the original into the entry `key`; the caller holds the entry's exclusive lock.
    bool copy_in(const std::string& resolved, const struct stat& st, const std::string& key);

    NetCacheConfig cfg_;
    Diagnostics& diag_;
    bool enabled_ = false;
    std::string staging_;
};

}  // namespace mtool::cache
