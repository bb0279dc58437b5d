#include "cache/tiers.h"

#include "src/core/magick.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "cache/dpc.h"
#include "src/core/error.h"

namespace mtool::cache {

namespace {

uint64_t page_size() {
    static const uint64_t p = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    return p;
}
uint64_t page_round(uint64_t n) { return (n + page_size() - 1) / page_size() * page_size(); }

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

Error exhausted() {
    return Error(Severity::cache_error, "cache resources exhausted", current_label(),
                 magick::where::cache_exhausted);
}

uint8_t* anonymous(uint64_t bytes) {
    void* p = mmap(nullptr, page_round(bytes), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        throw Error(Severity::resource_limit_error, "memory allocation failed", current_label(),
                    "cache.c/AcquireCacheNexusPixels");
    return static_cast<uint8_t*>(p);
}

/// registry:cache:hosts (set by -define registry:cache:hosts=...), if any.
std::optional<std::string> registry_hosts() {
    std::optional<std::string> hosts;
    ExceptionInfo* ex = AcquireExceptionInfo();
    if (char* r = static_cast<char*>(GetImageRegistry(StringRegistryType, "cache:hosts", ex))) {
        hosts = r;
        RelinquishMagickMemory(r);
    }
    DestroyExceptionInfo(ex);
    return hosts;
}

}  // namespace

std::string temporary_dir() {
    // ImageMagick's GetPathTemplate: the registry's temporary-path (-define
    // registry:temporary-path=DIR), else the first of MAGICK_TEMPORARY_PATH, MAGICK_TMPDIR and
    // TMPDIR that is set, else /tmp; the policy's resource:temporary-path overrides all of them.
    // A choice that is not an existing directory means the current directory (ImageMagick's
    // files then get relative names), not the next candidate.
    std::string dir;
    {
        ExceptionInfo* ex = AcquireExceptionInfo();
        if (char* r = static_cast<char*>(GetImageRegistry(StringRegistryType, "temporary-path", ex))) {
            dir = r;
            RelinquishMagickMemory(r);
        }
        DestroyExceptionInfo(ex);
    }
    for (const char* var : {"MAGICK_TEMPORARY_PATH", "MAGICK_TMPDIR", "TMPDIR"})
        if (const char* v = std::getenv(var); dir.empty() && v) dir = v;
    if (dir.empty()) dir = "/tmp";
    if (char* v = GetPolicyValue("resource:temporary-path")) {
        dir = v;
        RelinquishMagickMemory(v);
    }
    struct stat st;
    if (dir.size() > MaxTextExtent - 25 || ::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return ".";
    return dir;
}

// ---- SpillFile -------------------------------------------------------------------------------

SpillFile::~SpillFile() {
    if (fd_ >= 0) ::close(fd_);
}

void SpillFile::open() {
    std::string name = temporary_dir() + "/mtool-cache-XXXXXX";
    std::vector<char> buf(name.begin(), name.end());
    buf.push_back('\0');
    int fd = mkostemp(buf.data(), O_CLOEXEC);
    if (fd < 0)
        throw file_error(Severity::cache_error, "unable to open pixel cache", buf.data(), errno,
                         "cache.c/OpenPixelCacheOnDisk");
    ::unlink(buf.data());  // nothing survives the process, whatever ends it
    fd_ = fd;
    path_ = buf.data();
}

uint64_t SpillFile::allocate(uint64_t bytes, bool reserve) {
    if (fd_ < 0) open();
    bytes = page_round(bytes);
    uint64_t off = end_;
    bool reused = false;
    for (auto it = free_.begin(); it != free_.end(); ++it)
        if (it->second >= bytes) {
            off = it->first;
            uint64_t rest = it->second - bytes;
            free_.erase(it);
            if (rest) free_[off + bytes] = rest;
            reused = true;
            break;
        }
    if (!reused) end_ += bytes;
    if (reserve) {
        int rc = posix_fallocate(fd_, static_cast<off_t>(off), static_cast<off_t>(bytes));
        if (rc != 0) {
            release(off, bytes);
            throw file_error(Severity::cache_error, "unable to extend cache", path_, rc,
                             "cache.c/SetPixelCacheExtent");
        }
    }
    return off;
}

void SpillFile::release(uint64_t offset, uint64_t bytes) {
    bytes = page_round(bytes);
    // The slot's old bytes go now: a slot handed out again (and mapped before it is written)
    // reads zeros, never the previous strip's pixels (another session's, in a pixel server).
    if (fd_ >= 0)
        ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(bytes));
    if (offset + bytes == end_) {
        end_ = offset;
        // Coalesce trailing free space so the file shrinks back.
        while (!free_.empty()) {
            auto last = std::prev(free_.end());
            if (last->first + last->second != end_) break;
            end_ = last->first;
            free_.erase(last);
        }
        return;
    }
    free_[offset] = bytes;
}

namespace {

/// Runs pread or pwrite until `bytes` are done; a short transfer counts as `short_errno`.
template <class Io>
void transfer(Io io, uint64_t offset, uint64_t bytes, int short_errno, const std::string& path,
              const char* reason, const char* where) {
    uint64_t done = 0;
    while (done < bytes) {
        ssize_t n = io(done, bytes - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw file_error(Severity::cache_error, reason, path, n < 0 ? errno : short_errno, where);
        done += static_cast<uint64_t>(n);
    }
}

}  // namespace

void SpillFile::write(uint64_t offset, const uint8_t* data, uint64_t bytes) {
    transfer([&](uint64_t at, uint64_t n, off_t off) { return ::pwrite(fd_, data + at, n, off); }, offset,
             bytes, ENOSPC, path_, "unable to write pixel cache", "cache.c/WritePixelCachePixels");
}

void SpillFile::read(uint64_t offset, uint8_t* data, uint64_t bytes) {
    transfer([&](uint64_t at, uint64_t n, off_t off) { return ::pread(fd_, data + at, n, off); }, offset,
             bytes, EIO, path_, "unable to read pixel cache", "cache.c/ReadPixelCachePixels");
}

// ---- TierManager -----------------------------------------------------------------------------

TierManager::TierManager(std::function<Budgets()> budgets) : budgets_(std::move(budgets)) {}

TierManager::~TierManager() {
    for (Strip* s : clock_)
        if (s->frame) munmap(s->frame, page_round(s->bytes));
    for (auto& [bytes, frame] : pool_) munmap(frame, page_round(bytes));
}

void TierManager::log(const char* fmt, ...) const {
    if (!debug) return;
    std::va_list ap;
    va_start(ap, fmt);
    std::fputs("cache: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
}

void TierManager::inject_write_fault(int nth, int err) {
    std::lock_guard lock(mu_);
    fault_countdown_ = nth;
    fault_errno_ = err;
}

void TierManager::charge(Tier t, int64_t delta) {
    uint64_t* u = t == Tier::memory ? &usage_.memory
                  : t == Tier::map  ? &usage_.map
                  : t == Tier::disk ? &usage_.disk
                                    : &usage_.remote;
    *u = static_cast<uint64_t>(static_cast<int64_t>(*u) + delta);
    TierStats& st = stats_[static_cast<int>(t)];
    st.resident = *u;
    st.peak = std::max(st.peak, *u);
}

void TierManager::reserve(uint64_t bytes) {
    Held held(*this);
    charge(Tier::memory, static_cast<int64_t>(bytes));
    make_room(0);
}

void TierManager::release(uint64_t bytes) {
    std::lock_guard lock(mu_);
    charge(Tier::memory, -static_cast<int64_t>(bytes));
}

Strip* TierManager::create(uint64_t bytes, bool disk_only) {
    auto* s = new Strip;
    s->bytes = bytes;
    s->disk_only = disk_only;
    return s;
}

Strip* TierManager::create(uint64_t bytes, bool disk_only, std::shared_ptr<StripGroup> group, uint32_t index,
                           int y0) {
    Strip* s = create(bytes, disk_only);
    s->group = std::move(group);
    s->index = index;
    s->y0 = y0;
    return s;
}

void TierManager::drop_from_clock(Strip* s) {
    if (s->clock_index == SIZE_MAX) return;
    size_t i = s->clock_index;
    clock_[i] = clock_.back();
    clock_[i]->clock_index = i;
    clock_.pop_back();
    s->clock_index = SIZE_MAX;
    if (hand_ >= clock_.size()) hand_ = 0;
}

void TierManager::free_frame(Strip* s) {
    if (!s->frame) return;
    if (s->mapped) {
        munmap(s->frame, page_round(s->bytes));
        charge(Tier::memory, -static_cast<int64_t>(s->bytes));
    } else {
        pool_frame(s->frame, s->bytes);
    }
    s->frame = nullptr;
    s->mapped = false;
    drop_from_clock(s);
    if (clock_.empty())
        while (drop_pooled()) {  // nothing resident any more: nothing to recycle frames for
        }
}

// Freed heap frames are kept (still charged to MEMORY, their pages still faulted in) for the
// next strip of the same size: a strip moving through the tiers then costs no mmap, munmap and
// page faults. The pool is the first thing given back when the budget is exceeded.
void TierManager::pool_frame(uint8_t* frame, uint64_t bytes) {
    if (pool_.size() < kPoolFrames && pooled_bytes_ + bytes <= kPoolBytes) {
        pool_.push_back({bytes, frame});
        pooled_bytes_ += bytes;
        return;
    }
    munmap(frame, page_round(bytes));
    charge(Tier::memory, -static_cast<int64_t>(bytes));
}

uint8_t* TierManager::take_pooled(uint64_t bytes) {
    for (size_t i = 0; i < pool_.size(); ++i)
        if (pool_[i].first == bytes) {
            uint8_t* f = pool_[i].second;
            pool_[i] = pool_.back();
            pool_.pop_back();
            pooled_bytes_ -= bytes;
            return f;
        }
    return nullptr;
}

bool TierManager::drop_pooled() {
    if (pool_.empty()) return false;
    auto [bytes, frame] = pool_.back();
    pool_.pop_back();
    pooled_bytes_ -= bytes;
    munmap(frame, page_round(bytes));
    charge(Tier::memory, -static_cast<int64_t>(bytes));
    return true;
}

uint8_t* TierManager::heap_frame(Strip* s, bool zero) {
    const Budgets b = budgets_();
    uint8_t* f = take_pooled(s->bytes);
    uint64_t need = f ? 0 : s->bytes;
    while (memory_excess(usage_, need, b) > 0) {
        if (!f && (f = take_pooled(s->bytes))) {  // a victim's frame, just pooled
            need = 0;
            continue;
        }
        if (!drop_pooled() && !evict_one()) break;  // everything pinned: the working-set floor
    }
    if (f) {
        if (zero) std::memset(f, 0, s->bytes);  // a strip without data reads zeros
        return f;
    }
    f = anonymous(s->bytes);
    charge(Tier::memory, static_cast<int64_t>(s->bytes));
    return f;
}

void TierManager::release_home(Strip* s) {
    if (s->home == Tier::map) {
        map_file_.release(s->offset, s->bytes);
        charge(Tier::map, -static_cast<int64_t>(page_round(s->bytes)));
    } else if (s->home == Tier::disk) {
        disk_file_.release(s->offset, s->bytes);
        charge(Tier::disk, -static_cast<int64_t>(page_round(s->bytes)));
    } else if (s->home == Tier::remote) {
        charge(Tier::remote, -static_cast<int64_t>(s->bytes));  // the slot stays with the group's store
    }
    s->home = Tier::memory;
}

void TierManager::evict(Strip* s) {
    const Budgets b = budgets_();
    if (s->mapped) {  // the data is in the map file already
        free_frame(s);
        ++stats_[static_cast<int>(Tier::map)].evictions;
        log("unmap window %p (%llu bytes)", static_cast<void*>(s), static_cast<unsigned long long>(s->bytes));
        return;
    }
    if (s->loaded && (s->dirty.load() || s->home == Tier::memory)) {
        auto t0 = std::chrono::steady_clock::now();
        if (s->home == Tier::memory) {
            const uint64_t slot = page_round(s->bytes);
            std::optional<Tier> to;
            if (s->disk_only) {
                if (b.disk == kUnlimited || usage_.disk + slot <= b.disk) to = Tier::disk;
            } else {
                to = spill_target(usage_, slot, b);
            }
            if (!to && s->group) {
                // Map and disk are full: the image's pixel server (opened on first need).
                if (!s->group->remote) {
                    std::optional<std::string> hosts = registry_hosts();
                    if (!hosts) throw exhausted();
                    if (!s->group->remote_error.empty())
                        throw Error(Severity::cache_error, s->group->remote_error);
                    try {
                        s->group->remote = dpc::RemoteStore::open(dpc::parse_hosts(*hosts), s->group->strips,
                                                                  s->group->strip_bytes);
                    } catch (const Error& e) {
                        s->group->remote_error = e.text();  // not retried for every strip
                        throw;
                    }
                    remote_hosts_ = *hosts;
                    ++stats_[static_cast<int>(Tier::remote)].round_trips;
                    log("remote store for %llu strips on %s",
                        static_cast<unsigned long long>(s->group->strips),
                        s->group->remote->host().text().c_str());
                }
                to = Tier::remote;
            }
            if (!to) throw exhausted();
            if (*to == Tier::remote) {
                s->home = Tier::remote;
                charge(Tier::remote, static_cast<int64_t>(s->bytes));
            } else {
                SpillFile& f = *to == Tier::map ? map_file_ : disk_file_;
                s->offset = f.allocate(slot, *to == Tier::map);
                s->home = *to;
                charge(*to, static_cast<int64_t>(slot));
            }
        }
        TierStats& st = stats_[static_cast<int>(s->home)];
        if (s->home == Tier::remote) {
            if (!write_remote(s)) return;  // its image went away meanwhile: the strip is gone
            st.bytes += s->bytes;
        } else {
            SpillFile& f = s->home == Tier::map ? map_file_ : disk_file_;
            if (fault_countdown_ > 0 && --fault_countdown_ == 0)
                throw file_error(Severity::cache_error, "unable to write pixel cache", f.path(), fault_errno_,
                                 "cache.c/WritePixelCachePixels");
            f.write(s->offset, s->frame, s->bytes);
        }
        s->dirty = false;
        ++st.tiles_out;
        st.seconds += seconds_since(t0);
    }
    free_frame(s);
    ++stats_[static_cast<int>(Tier::memory)].evictions;
}

bool TierManager::write_remote(Strip* s) {
    // Like a load, the write runs with the manager unlocked when the caller's lock is known:
    // the strip is pinned and marked busy meanwhile, so nobody evicts, pins or frees it.
    std::shared_ptr<dpc::RemoteStore> store = s->group->remote;
    std::unique_lock<std::mutex>* mine = lock_;
    if (!mine) {
        store->write(s->index, s->frame, s->bytes);
        return true;
    }
    s->loading = true;
    ++s->pins;
    std::exception_ptr failure;
    mine->unlock();
    try {
        store->write(s->index, s->frame, s->bytes);
    } catch (...) {
        failure = std::current_exception();
    }
    mine->lock();
    lock_ = mine;
    s->loading = false;
    --s->pins;
    loaded_.notify_all();
    if (failure) std::rethrow_exception(failure);
    if (s->dead && s->pins == 0) {
        free_frame(s);
        release_home(s);
        delete s;
        return false;
    }
    return true;
}

bool TierManager::evict_one() {
    std::vector<ClockSlot> slots(clock_.size());
    for (size_t i = 0; i < clock_.size(); ++i)
        slots[i] = ClockSlot{clock_[i]->frame != nullptr, clock_[i]->pins > 0, clock_[i]->referenced};
    std::optional<size_t> v = clock_victim(slots, hand_);
    for (size_t i = 0; i < clock_.size(); ++i) clock_[i]->referenced = slots[i].referenced;
    if (!v) return false;
    evict(clock_[*v]);
    return true;
}

void TierManager::make_room(uint64_t bytes) {
    const Budgets b = budgets_();
    while (memory_excess(usage_, bytes, b) > 0)
        if (!drop_pooled() && !evict_one()) return;  // everything resident is pinned: the floor
}

void TierManager::make_resident(Strip* s) {
    const Budgets b = budgets_();
    const uint64_t slot = page_round(s->bytes);
    const bool map_room =
        s->home == Tier::memory && !s->disk_only && (b.map == kUnlimited || usage_.map + slot <= b.map);
    Residence r = s->disk_only ? Residence::heap : residence_for(s->bytes, s->home == Tier::map, map_room, b);
    auto t0 = std::chrono::steady_clock::now();
    if (r == Residence::mapped_window && s->home != Tier::disk) {
        make_room(s->bytes);
        if (s->home == Tier::memory) {
            s->offset = map_file_.allocate(slot, true);
            s->home = Tier::map;
            charge(Tier::map, static_cast<int64_t>(slot));
            ++stats_[static_cast<int>(Tier::map)].tiles_out;
        }
        void* p = mmap(nullptr, slot, PROT_READ | PROT_WRITE, MAP_SHARED, map_file_.fd(),
                       static_cast<off_t>(s->offset));
        if (p == MAP_FAILED)
            throw file_error(Severity::cache_error, "unable to map pixel cache", map_file_.path(), errno,
                             "cache.c/MapBlob");
        s->frame = static_cast<uint8_t*>(p);
        s->mapped = true;
        charge(Tier::memory, static_cast<int64_t>(s->bytes));
        ++stats_[static_cast<int>(Tier::map)].misses;
    } else {
        const bool has_data = s->loaded && s->home != Tier::memory;
        s->frame = heap_frame(s, !has_data);
        s->mapped = false;
        if (has_data) {  // from MAP or DISK (REMOTE strips come back through load_remote)
            try {
                SpillFile& f = s->home == Tier::map ? map_file_ : disk_file_;
                f.read(s->offset, s->frame, s->bytes);
            } catch (...) {
                pool_frame(s->frame, s->bytes);
                s->frame = nullptr;
                throw;
            }
            TierStats& st = stats_[static_cast<int>(s->home)];
            ++st.tiles_in;
            st.seconds += seconds_since(t0);
            s->dirty = false;
        }
        ++stats_[static_cast<int>(Tier::memory)].misses;
    }
    s->clock_index = clock_.size();
    clock_.push_back(s);
}

void TierManager::load_remote(Strip* s, std::unique_lock<std::mutex>& lock) {
    // The strip is given its frame and pinned under the lock, then read from its server with
    // the lock released: other threads go on with resident strips (and other images' servers)
    // meanwhile; a thread wanting this strip waits for the load.
    s->frame = heap_frame(s, false);
    s->mapped = false;
    std::shared_ptr<dpc::RemoteStore> store = s->group->remote;
    const auto t0 = std::chrono::steady_clock::now();
    std::exception_ptr failure;
    std::unique_lock<std::mutex>* mine = lock_;
    lock.unlock();
    try {
        store->read(s->index, s->frame, s->bytes);
    } catch (...) {
        failure = std::current_exception();
    }
    lock.lock();
    lock_ = mine;
    if (failure) {
        pool_frame(s->frame, s->bytes);
        s->frame = nullptr;
        std::rethrow_exception(failure);
    }
    TierStats& st = stats_[static_cast<int>(Tier::remote)];
    ++st.tiles_in;
    ++st.round_trips;
    st.bytes += s->bytes;
    st.seconds += seconds_since(t0);
    ++stats_[static_cast<int>(Tier::memory)].misses;
    s->dirty = false;
    s->clock_index = clock_.size();
    clock_.push_back(s);
}

uint8_t* TierManager::pin(Strip* s, bool write) {
    Held held(*this);
    std::unique_lock<std::mutex>& lock = held.lock;
    if (!pending_error_.empty()) {
        Error e(static_cast<Severity>(pending_severity_), pending_error_);
        pending_error_.clear();
        throw e;
    }
    loaded_.wait(lock, [s] { return !s->loading; });
    lock_ = &lock;  // others held the mutex while this thread waited
    if (s->frame) {
        ++stats_[static_cast<int>(s->mapped ? Tier::map : Tier::memory)].hits;
    } else {
        // Busy (and pinned) from here until it is resident: making room and remote I/O may
        // release the mutex, and another thread must not make the same strip resident too.
        s->loading = true;
        ++s->pins;
        try {
            if (s->loaded && s->home == Tier::remote)
                load_remote(s, lock);
            else
                make_resident(s);
        } catch (...) {
            s->loading = false;
            --s->pins;
            loaded_.notify_all();
            throw;
        }
        s->loading = false;
        --s->pins;
        loaded_.notify_all();
    }
    ++s->pins;
    s->referenced = true;
    if (write) {
        s->dirty = true;
        s->loaded = true;
    }
    return s->frame;
}

void TierManager::unpin(Strip* s) {
    Held held(*this);
    if (--s->pins > 0) return;
    if (s->dead) {
        free_frame(s);
        release_home(s);
        delete s;
        return;
    }
    // Over budget only because of pinned strips: give memory back as soon as they go. Strips
    // of images over the area limit live on DISK, as ImageMagick keeps such images.
    while (memory_excess(usage_, 0, budgets_()) > 0 && drop_pooled()) {
    }
    if ((memory_excess(usage_, 0, budgets_()) > 0 || s->disk_only) && s->frame) {
        try {
            evict(s);
            while (memory_excess(usage_, 0, budgets_()) > 0 && drop_pooled()) {
            }
        } catch (const Error& e) {
            // Left resident (nothing is lost); unpin cannot throw, so the next pin reports it.
            if (pending_error_.empty()) {
                pending_error_ = e.text();
                pending_severity_ = static_cast<int>(e.severity());
            }
        }
    }
}

void TierManager::destroy(Strip* s) {
    std::lock_guard lock(mu_);
    s->dead = true;
    if (s->pins > 0) return;
    free_frame(s);
    release_home(s);
    delete s;
}

TierStats TierManager::stats(Tier t) const {
    std::lock_guard lock(mu_);
    return stats_[static_cast<int>(t)];
}

void TierManager::report(std::FILE* out) const {
    std::lock_guard lock(mu_);
    const Budgets b = budgets_();
    auto limit = [](uint64_t v) { return v == kUnlimited ? std::string("unlimited") : std::to_string(v); };
    const uint64_t limits[] = {b.memory, b.map, b.disk};
    for (int t = 0; t < 3; ++t) {
        const TierStats& s = stats_[t];
        std::fprintf(
            out,
            "cache: tier %-6s limit %s resident %llu peak %llu tiles-in %llu tiles-out %llu hits %llu "
            "misses %llu evictions %llu spill-seconds %.3f\n",
            tier_name(static_cast<Tier>(t)), limit(limits[t]).c_str(),
            static_cast<unsigned long long>(s.resident), static_cast<unsigned long long>(s.peak),
            static_cast<unsigned long long>(s.tiles_in), static_cast<unsigned long long>(s.tiles_out),
            static_cast<unsigned long long>(s.hits), static_cast<unsigned long long>(s.misses),
            static_cast<unsigned long long>(s.evictions), s.seconds);
    }
    const TierStats& r = stats_[static_cast<int>(Tier::remote)];
    if (r.tiles_out || r.round_trips)
        std::fprintf(
            out,
            "cache: tier REMOTE hosts %s resident %llu peak %llu tiles-in %llu tiles-out %llu round-trips "
            "%llu bytes %llu seconds %.3f\n",
            remote_hosts_.c_str(), static_cast<unsigned long long>(r.resident),
            static_cast<unsigned long long>(r.peak), static_cast<unsigned long long>(r.tiles_in),
            static_cast<unsigned long long>(r.tiles_out), static_cast<unsigned long long>(r.round_trips),
            static_cast<unsigned long long>(r.bytes), r.seconds);
}

// ---- per-thread pins -------------------------------------------------------------------------

namespace {

struct PinRing {
    struct Entry {
        Strip* strip = nullptr;
        TierManager* manager = nullptr;
        uint8_t* frame = nullptr;
        uint64_t stamp = 0;
        bool write = false;
    };
    std::array<Entry, kPinRing> entries{};
    uint64_t tick = 0;

    void drop(Entry& e) {
        if (!e.strip) return;
        if (last_pin.strip == e.strip) last_pin = LastPin{};
        last_rows = LastRows{};
        Strip* s = e.strip;
        TierManager* m = e.manager;
        e = Entry{};
        m->unpin(s);
    }
    ~PinRing() {
        for (auto& e : entries) drop(e);
    }
};

thread_local PinRing ring;
thread_local std::string label;

}  // namespace

uint8_t* thread_pin(TierManager& m, Strip* s, bool write) {
    PinRing& r = ring;
    PinRing::Entry* oldest = &r.entries[0];
    for (auto& e : r.entries) {
        if (e.strip == s) {
            e.stamp = ++r.tick;
            if (write && !e.write) {
                m.pin(s, true);  // marks it written; the extra pin is dropped at once
                m.unpin(s);
                e.write = true;
            }
            last_pin = LastPin{s, e.frame, e.write};
            return e.frame;
        }
        if (e.stamp < oldest->stamp) oldest = &e;
    }
    uint8_t* frame = m.pin(s, write);  // may throw: the ring is unchanged then
    r.drop(*oldest);
    *oldest = PinRing::Entry{s, &m, frame, ++r.tick, write};
    last_pin = LastPin{s, frame, write};
    return frame;
}

void thread_forget(const std::vector<Strip*>& strips) {
    for (auto& e : ring.entries)
        if (e.strip && std::find(strips.begin(), strips.end(), e.strip) != strips.end()) ring.drop(e);
}

void thread_release_all() {
    for (auto& e : ring.entries) ring.drop(e);
}

void set_current_label(const std::string& name) { label = name; }
const std::string& current_label() { return label; }

}  // namespace mtool::cache
