#pragma once
// The network cache: a local LRU file cache for inputs on slow file systems (NFS, CIFS/SMB,
// FUSE, 9p, CD-ROM/UDF, ...), shared safely by any number of mtool processes.
//
// Layout of the cache directory (created 0775: user and group full access, others read-only):
//   .netcache                 marker and format version
//   data/HH/KEY               the copy of one original (KEY = SHA-256 of its resolved path)
//   data/HH/KEY.meta          what it is a copy of: path, size, mtime, inode, device, SHA-256
//   data/HH/KEY.lock          flock target: shared while a process reads the copy, exclusive
//                             while one copies it or evicts it (never removed, so every
//                             process locks the same inode)
//   tmp/                      copies in progress and write-cache stages (sticky: each user
//                             removes only their own)
//   stats                     hits, misses, copies, bytes saved (rewritten atomically)
// The directory is the index: it survives restarts, and an entry whose .meta is missing,
// unreadable, stale or untrusted is simply copied again. A copy is renamed into place before
// its .meta is written, and the old .meta is removed first, so a process killed mid-copy never
// leaves an entry that looks valid; its temporary file, locked while it is written, is swept by
// the next process that finds the lock free.
//
// Trust. Everything is reached through directory descriptors opened without following links
// and checked (owner, mode) first, and every file is created exclusively (O_EXCL|O_NOFOLLOW),
// so planted links, FIFOs and hard links are never written through, chmod'ed or locked twice.
//   * The cache directory must belong to this user or root and not be writable by others; its
//     mode is set only when mtool creates it.
//   * An entry (data and .meta) counts only if it is a regular file with one link, not
//     writable by group or others, owned by this user or root, or, in a deliberately shared
//     group cache (netcache:shared=group), by any user of the cache directory's group. Before a
//     hit is served its size and SHA-256 are checked against its .meta, and the reader must be
//     able to open the original itself: a cache never grants access the original does not.
//   * A copy is private to its owner unless the original is readable by the copy's group
//     (same group, or world-readable); it is never readable by others.
//
// Whatever fails (full disk, permissions, locks, corrupt or untrusted files), the caller reads
// the original: the worst case is no caching.
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/core/error.h"

struct _ImageInfo;

namespace mtool::cache {

struct NetCacheConfig {
    std::string dir;                    ///< "" disables the cache
    uint64_t size = uint64_t{1} << 30;  ///< bytes the cache may hold
    std::vector<std::string> paths;     ///< directories treated as slow whatever their file system
    std::vector<std::string> exclude;   ///< directories never cached
    bool writecache = false;            ///< stage outputs locally, then one sequential copy
    bool shared = false;                ///< netcache:shared=group: trust the directory group's entries
    bool debug = false;                 ///< -debug netcache

    /// -define netcache:dir/size/paths/exclude/writecache/shared, else policy.xml
    /// (<policy domain="cache" name="netcache-dir" value="..."/>, netcache-size,
    /// netcache-shared), else MTOOL_NETCACHE_DIR / MTOOL_NETCACHE_SIZE / MTOOL_NETCACHE_SHARED.
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
    NetCache(const NetCache&) = delete;
    NetCache& operator=(const NetCache&) = delete;
    bool enabled() const { return enabled_; }
    const NetCacheConfig& config() const { return cfg_; }

    /// A verified local copy to read instead of `path`, valid while the Lease lives: it holds
    /// the copy open (path() names that descriptor) and a shared lock that keeps eviction away.
    class Lease {
    public:
        Lease(std::string local, int lock_fd, int data_fd)
            : local_(std::move(local)), lock_(lock_fd), data_(data_fd) {}
        Lease(Lease&& o) noexcept : local_(std::move(o.local_)), lock_(o.lock_), data_(o.data_) {
            o.lock_ = o.data_ = -1;
        }
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        ~Lease();
        const std::string& path() const { return local_; }

    private:
        std::string local_;
        int lock_, data_;
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
    /// Write cache: the local directory outputs are staged in ("" if unavailable).
    std::string staging_dir();

private:
    void log(const std::string& msg) const;
    void count(uint64_t hits, uint64_t misses, uint64_t copies, uint64_t saved);
    /// Copies the original (open as `orig`) into the entry `key` of bucket `bfd`; the caller
    /// holds the entry's exclusive lock.
    bool copy_in(int orig, const std::string& resolved, const struct stat& st, int bfd,
                 const std::string& key);
    /// The bucket directory of `key` (data/HH), verified; -1 if missing or untrusted.
    int bucket(const std::string& key, bool create) const;
    bool trusted_owner(const struct stat& st) const;
    bool trusted_dir(const struct stat& st) const;
    /// A regular file with one link, not writable by others (nor by group for `data`).
    bool trusted_file(const struct stat& st, bool data) const;
    /// Opens (creating exclusively if needed) a lock file in `dfd`; -1 if it is untrusted.
    int open_lock(int dfd, const std::string& name) const;
    struct Scanned;
    std::vector<Scanned> scan() const;
    bool evict(const Scanned& s, bool log_it);

    NetCacheConfig cfg_;
    Diagnostics& diag_;
    bool enabled_ = false;
    int root_ = -1, data_ = -1, tmp_ = -1;
    gid_t gid_ = 0;  ///< the cache directory's group
    std::vector<gid_t> groups_;
};

}  // namespace mtool::cache
