#pragma once
// The tier manager: every native image's pixels live in strips (tiles of whole rows) that the
// manager places in MEMORY (anonymous mappings, returned to the system on eviction), MAP (a
// memory-mapped spill file, reached through windows that are unmapped when not in use) or DISK
// (a pread/pwrite spill file) or REMOTE (a pixel server of registry:cache:hosts, reached with
// ImageMagick's distributed-cache protocol, cache/dpc.h) once the map and disk budgets are full.
//
// A strip is resident while pinned; pins are taken by Pixels::row() through a small per-thread
// ring (so a row pointer stays valid until the thread has touched kPinRing other strips) or by
// an explicit Pixels::Hold. Unpinned strips are evicted by a second-chance clock as soon as the
// memory budget is exceeded, so the resident set follows the budget continuously; a spilled
// strip touched again comes back into memory if the budget has room.
//
// Spill files live in MAGICK_TEMPORARY_PATH (else TMPDIR, else /tmp) and are unlinked as soon
// as they are created: nothing is left behind after an error, a signal or kill -9.
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/policy.h"

namespace mtool::cache {

struct TierStats {
    uint64_t resident = 0;     ///< bytes charged to the tier now
    uint64_t peak = 0;         ///< the most ever charged
    uint64_t tiles_in = 0;     ///< strips loaded from the tier into memory (MAP/DISK)
    uint64_t tiles_out = 0;    ///< strips written to the tier
    uint64_t hits = 0;         ///< pins of strips already resident (MEMORY) / mapped (MAP)
    uint64_t misses = 0;       ///< pins that had to load or map
    uint64_t evictions = 0;    ///< strips pushed out of the tier
    double seconds = 0;        ///< time spent writing and reading the tier
    uint64_t round_trips = 0;  ///< REMOTE: requests answered by a server (opens, reads)
    uint64_t bytes = 0;        ///< REMOTE: bytes sent and received
};

/// A spill file: unlinked at creation, slots reused first-fit.
class SpillFile {
public:
    SpillFile() = default;
    SpillFile(const SpillFile&) = delete;
    SpillFile& operator=(const SpillFile&) = delete;
    ~SpillFile();
    /// Returns the slot offset; throws mtool::Error on ENOSPC/EIO. `reserve` allocates the
    /// blocks now (a mapped slot must never fault on a full disk).
    uint64_t allocate(uint64_t bytes, bool reserve);
    void release(uint64_t offset, uint64_t bytes);
    void write(uint64_t offset, const uint8_t* data, uint64_t bytes);
    void read(uint64_t offset, uint8_t* data, uint64_t bytes);
    int fd() const { return fd_; }
    const std::string& path() const { return path_; }

private:
    void open();
    int fd_ = -1;
    std::string path_;
    uint64_t end_ = 0;
    std::map<uint64_t, uint64_t> free_;  ///< offset -> bytes
};

struct Strip;
namespace dpc {
class RemoteStore;
}

/// What the strips of one image share: their count and size, and the image's remote store once
/// one of its strips has gone to a pixel server.
struct StripGroup {
    uint64_t strips = 0;
    uint64_t strip_bytes = 0;
    std::shared_ptr<dpc::RemoteStore> remote;
    std::string remote_error;  ///< opening a store failed: every later spill reports this
};

class TierManager {
public:
    /// The process's manager (budgets from ImageMagick's resource limits, which -limit,
    /// policy.xml and MAGICK_*_LIMIT set).
    static TierManager& global();

    explicit TierManager(std::function<Budgets()> budgets);
    ~TierManager();

    Budgets budgets() const { return budgets_(); }
    /// A strip of `bytes`; `disk_only` strips (image over the area limit) skip MEMORY and MAP.
    Strip* create(uint64_t bytes, bool disk_only = false);
    /// A strip of an image: strip `index` of `group` (rows `y0`..), so it can live remotely.
    Strip* create(uint64_t bytes, bool disk_only, std::shared_ptr<StripGroup> group, uint32_t index, int y0);
    /// Makes the strip resident and pins it; `write` marks it dirty.
    uint8_t* pin(Strip* s, bool write);
    void unpin(Strip* s);
    /// The owner is gone: freed now or when its last pin goes.
    void destroy(Strip* s);

    /// Working memory of an operator (kernel rings, scratch rows) counts against the MEMORY
    /// budget like strips do: strips are evicted to make room. Like pinned strips it is a floor
    /// the budget cannot push below (callers size it from the budget).
    void reserve(uint64_t bytes);
    void release(uint64_t bytes);

    TierStats stats(Tier t) const;
    /// -debug cache: per-tier counters.
    void report(std::FILE* out) const;
    bool debug = false;
    /// Test hook: the Nth spill write from now fails with `err` (ENOSPC, EIO).
    void inject_write_fault(int nth, int err);

private:
    void make_room(uint64_t bytes);
    bool evict_one();
    /// Writes an evicted strip to its server; false when its image was destroyed meanwhile.
    bool write_remote(Strip* s);
    /// The manager's mutex, held by an entry point that lets spill I/O release it (lock_ set).
    struct Held {
        explicit Held(TierManager& m) : m_(m), lock(m.mu_) { m.lock_ = &lock; }
        ~Held() { m_.lock_ = nullptr; }
        TierManager& m_;
        std::unique_lock<std::mutex> lock;
    };
    /// A MEMORY frame for `s` (pooled or new, charged), room made under the budget first.
    uint8_t* heap_frame(Strip* s, bool zero);
    void pool_frame(uint8_t* frame, uint64_t bytes);
    uint8_t* take_pooled(uint64_t bytes);
    bool drop_pooled();
    void evict(Strip* s);
    void make_resident(Strip* s);
    void load_remote(Strip* s, std::unique_lock<std::mutex>& lock);
    void free_frame(Strip* s);
    void release_home(Strip* s);
    void charge(Tier t, int64_t delta);
    void drop_from_clock(Strip* s);
    void log(const char* fmt, ...) const;

    std::function<Budgets()> budgets_;
    mutable std::mutex mu_;
    std::condition_variable loaded_;                ///< a remote strip's load or write finished
    std::unique_lock<std::mutex>* lock_ = nullptr;  ///< the holder's lock (see Held)
    std::vector<Strip*> clock_;
    static constexpr size_t kPoolFrames = 8;
    static constexpr uint64_t kPoolBytes = 8 << 20;
    std::vector<std::pair<uint64_t, uint8_t*>> pool_;  ///< freed heap frames, still charged
    uint64_t pooled_bytes_ = 0;
    size_t hand_ = 0;
    Usage usage_;
    std::array<TierStats, kTierCount> stats_{};
    std::string remote_hosts_;  ///< the hosts the last remote store was opened with (-debug cache)
    SpillFile map_file_, disk_file_;
    int fault_countdown_ = 0, fault_errno_ = 0;
    std::string pending_error_;  ///< a spill failure met while unpinning, thrown by the next pin
    int pending_severity_ = 0;
};

/// A reservation of operator working memory, released when it goes (see TierManager::reserve).
class Scratch {
public:
    Scratch() = default;
    Scratch(TierManager& m, uint64_t bytes) : m_(&m), bytes_(bytes) { m.reserve(bytes); }
    Scratch(Scratch&& o) noexcept : m_(o.m_), bytes_(o.bytes_) { o.m_ = nullptr; }
    Scratch& operator=(Scratch&& o) noexcept {
        std::swap(m_, o.m_);
        std::swap(bytes_, o.bytes_);
        return *this;
    }
    ~Scratch() {
        if (m_) m_->release(bytes_);
    }

private:
    TierManager* m_ = nullptr;
    uint64_t bytes_ = 0;
};

struct Strip {
    uint64_t bytes = 0;
    bool disk_only = false;
    std::shared_ptr<StripGroup> group;  ///< null for strips outside an image (tests)
    uint32_t index = 0;                 ///< strip number within the group
    int y0 = 0;                         ///< first image row
    // Guarded by the manager's mutex.
    int pins = 0;
    bool referenced = false;
    bool dead = false;
    bool loaded = false;       ///< holds data (else never written: no load needed)
    uint8_t* frame = nullptr;  ///< resident bytes: heap frame or mapped window
    bool mapped = false;       ///< frame is a window onto the map file
    Tier home = Tier::memory;  ///< spill copy: MAP or DISK file, memory = none
    uint64_t offset = 0;
    size_t clock_index = SIZE_MAX;
    std::atomic<bool> dirty{false};
    bool loading = false;  ///< being read from its server with the manager unlocked (pinned)
};

/// The number of strips a thread keeps pinned through Pixels::row().
constexpr int kPinRing = 8;

/// The calling thread's most recently pinned strip: checked inline by Pixels::row() before
/// the ring (a pin held by the ring backs it; the ring clears it when it lets the strip go).
struct LastPin {
    Strip* strip = nullptr;
    uint8_t* frame = nullptr;
    bool write = false;
};
inline thread_local LastPin last_pin;

/// The calling thread's two most recently located rows (owner = a Pixels' unique id): per-sample
/// accessors that alternate between an input and an output row hit them without arithmetic.
/// Cleared whenever the thread's ring lets a strip go, so the rows they point into stay pinned.
struct LastRow {
    uint64_t owner = 0;
    int y = -1;
    uint8_t* ptr = nullptr;
    bool write = false;
};
struct LastRows {
    LastRow slot[2];
    int next = 0;
};
inline thread_local LastRows last_rows;

/// Pins `s` for the calling thread (ring of kPinRing, least recently used goes) and returns
/// its bytes. The fast path takes no lock.
uint8_t* thread_pin(TierManager& m, Strip* s, bool write);
/// Drops the calling thread's pins on strips of `strips` (their owner is going away).
void thread_forget(const std::vector<Strip*>& strips);
/// Drops every pin of the calling thread (end of an operation on the main thread).
void thread_release_all();

/// Where temporary files go: MAGICK_TEMPORARY_PATH, else TMPDIR, else /tmp.
std::string temporary_dir();

/// Name used in error messages about the image being cached ("width or height exceeds limit
/// `name'"); set by the executor per read and operator.
void set_current_label(const std::string& name);
const std::string& current_label();

}  // namespace mtool::cache
