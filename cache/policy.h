#pragma once
// Placement and eviction decisions of the tier manager as pure functions, so they are tested
// apart from files, mappings and threads.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace mtool::cache {

constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

/// Where a strip's bytes are. REMOTE is the seam for the distributed cache (pixel servers).
enum class Tier : int { memory = 0, map = 1, disk = 2, remote = 3 };
constexpr int kTierCount = 4;
const char* tier_name(Tier t);

/// Byte budgets per tier (ImageMagick's memory, map and disk limits).
struct Budgets {
    uint64_t memory = kUnlimited;  ///< resident strips: heap frames and mapped windows
    uint64_t map = kUnlimited;     ///< bytes of the memory-mapped spill file
    uint64_t disk = kUnlimited;    ///< bytes of the pread/pwrite spill file
    uint64_t width = kUnlimited;   ///< widest image allowed (pixels)
    uint64_t height = kUnlimited;  ///< tallest image allowed
    uint64_t area = kUnlimited;    ///< larger images bypass MEMORY and MAP (ImageMagick's area)
    /// Bytes all the tiers together can hold (kUnlimited when any can hold anything).
    uint64_t room() const {
        auto add = [](uint64_t a, uint64_t b) { return a > kUnlimited - b ? kUnlimited : a + b; };
        return add(add(memory, map), disk);
    }
};

/// Bytes currently charged to each tier.
struct Usage {
    uint64_t memory = 0, map = 0, disk = 0, remote = 0;
};

/// Spill target for `bytes` leaving memory: MAP while it fits the map budget, else DISK, else
/// none (the caller reports "cache resources exhausted").
std::optional<Tier> spill_target(const Usage& u, uint64_t bytes, const Budgets& b);

/// How a strip that must become resident is held: a heap frame (MEMORY; copied in from its
/// spill file if it has one) when the memory budget can hold a strip at all, else a window
/// mapped onto the map file (memory budget 0: pages stay in the page cache), else a heap frame
/// loaded from disk for the duration of the pin.
enum class Residence { heap, mapped_window };
Residence residence_for(uint64_t bytes, bool has_map_home, bool map_room, const Budgets& b);

/// Bytes by which making `bytes` resident would exceed the memory budget (0 if it fits).
uint64_t memory_excess(const Usage& u, uint64_t bytes, const Budgets& b);

/// One slot of the clock: the manager's view of a resident strip.
struct ClockSlot {
    bool resident = false;
    bool pinned = false;
    bool referenced = false;
};

/// Second-chance clock: advances `hand` over `slots`, clearing reference bits, and returns the
/// first resident, unpinned, unreferenced slot; nullopt when every resident slot is pinned.
std::optional<size_t> clock_victim(std::vector<ClockSlot>& slots, size_t& hand);

/// Rows per strip for an image row of `stride` bytes: strips of about `target` bytes (at
/// least one row), so limits act in steps no coarser than a strip.
int rows_per_strip(size_t stride, int height, size_t target);

/// The strip size the manager aims for under a memory budget: small enough that a few pinned
/// strips per thread stay well inside small budgets, large enough to keep I/O efficient.
size_t strip_target(const Budgets& b);

}  // namespace mtool::cache
