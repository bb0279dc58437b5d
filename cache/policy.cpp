#include "cache/policy.h"

#include <algorithm>

namespace mtool::cache {

const char* tier_name(Tier t) {
    switch (t) {
        case Tier::memory:
            return "MEMORY";
        case Tier::map:
            return "MAP";
        case Tier::disk:
            return "DISK";
        case Tier::remote:
            return "REMOTE";
    }
    return "?";
}

static bool fits(uint64_t used, uint64_t bytes, uint64_t budget) {
    return budget == kUnlimited || (used <= budget && bytes <= budget - used);
}

std::optional<Tier> spill_target(const Usage& u, uint64_t bytes, const Budgets& b) {
    if (fits(u.map, bytes, b.map)) return Tier::map;
    if (fits(u.disk, bytes, b.disk)) return Tier::disk;
    return std::nullopt;
}

Residence residence_for(uint64_t bytes, bool has_map_home, bool map_room, const Budgets& b) {
    if (b.memory != kUnlimited && b.memory < bytes && (has_map_home || map_room))
        return Residence::mapped_window;
    return Residence::heap;
}

uint64_t memory_excess(const Usage& u, uint64_t bytes, const Budgets& b) {
    if (b.memory == kUnlimited) return 0;
    uint64_t want = u.memory + bytes;
    return want > b.memory ? want - b.memory : 0;
}

std::optional<size_t> clock_victim(std::vector<ClockSlot>& slots, size_t& hand) {
    const size_t n = slots.size();
    if (n == 0) return std::nullopt;
    // Two sweeps: the first may only clear reference bits.
    for (size_t step = 0; step < 2 * n; ++step) {
        size_t i = hand % n;
        hand = (i + 1) % n;
        ClockSlot& s = slots[i];
        if (!s.resident || s.pinned) continue;
        if (s.referenced) {
            s.referenced = false;
            continue;
        }
        return i;
    }
    return std::nullopt;
}

int rows_per_strip(size_t stride, int height, size_t target) {
    if (stride == 0 || height <= 0) return std::max(1, height);
    size_t rows = std::max<size_t>(1, target / stride);
    return static_cast<int>(std::min<size_t>(rows, static_cast<size_t>(height)));
}

size_t strip_target(const Budgets& b) {
    constexpr size_t kMin = 64 << 10, kMax = 1 << 20;
    if (b.memory == kUnlimited) return kMax;
    return std::clamp<size_t>(static_cast<size_t>(b.memory / 64), kMin, kMax);
}

}  // namespace mtool::cache
