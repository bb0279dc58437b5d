// The tier manager: the placement policy on its own, then strips moving between MEMORY, MAP and
// DISK under small budgets, from several threads, and the clean failures (exhausted tiers,
// an injected ENOSPC).
#include <sys/resource.h>
#include "tests/unit/helpers.h"  // doctest before ImageMagick's headers (IsNaN macro)

#include <cerrno>
#include <cstring>
#include <thread>

#include "cache/policy.h"
#include "cache/tiers.h"
#include "src/core/image.h"
#include "src/ops/parallel.h"

using namespace mtool::cache;
using mtool::Pixels;

TEST_CASE("spill target: MAP while it fits, then DISK, then nothing") {
    Budgets b;
    b.map = 100;
    b.disk = 50;
    CHECK(spill_target(Usage{0, 0, 0}, 100, b) == Tier::map);
    CHECK(spill_target(Usage{0, 60, 0}, 50, b) == Tier::disk);
    CHECK(spill_target(Usage{0, 60, 10}, 50, b) == std::nullopt);
    CHECK(spill_target(Usage{0, 0, 0}, 1000, Budgets{}) == Tier::map);  // unlimited
    b.map = 0;
    CHECK(spill_target(Usage{}, 1, b) == Tier::disk);
}

TEST_CASE("memory excess and residence follow the budget") {
    Budgets b;
    b.memory = 1000;
    CHECK(memory_excess(Usage{900, 0, 0}, 100, b) == 0);
    CHECK(memory_excess(Usage{900, 0, 0}, 150, b) == 50);
    CHECK(memory_excess(Usage{5000, 0, 0}, 0, Budgets{}) == 0);
    CHECK(residence_for(500, false, true, b) == Residence::heap);
    b.memory = 0;
    CHECK(residence_for(500, false, true, b) == Residence::mapped_window);  // memory 0: MAP tier
    CHECK(residence_for(500, false, false, b) == Residence::heap);          // no map room: load for the pin
    CHECK(residence_for(500, true, false, b) == Residence::mapped_window);  // already homed in MAP
}

TEST_CASE("clock: pinned strips stay, referenced ones get a second chance") {
    std::vector<ClockSlot> s = {
        {true, true, false}, {true, false, true}, {true, false, false}, {false, false, false}};
    size_t hand = 0;
    auto v = clock_victim(s, hand);
    REQUIRE(v);
    CHECK(*v == 2);
    CHECK_FALSE(s[1].referenced);  // its bit was cleared on the way
    s[2].resident = false;
    v = clock_victim(s, hand);
    REQUIRE(v);
    CHECK(*v == 1);  // second sweep takes it
    std::vector<ClockSlot> pinned = {{true, true, true}, {true, true, false}};
    CHECK_FALSE(clock_victim(pinned, hand));
    std::vector<ClockSlot> none;
    CHECK_FALSE(clock_victim(none, hand));
}

TEST_CASE("strip geometry") {
    CHECK(rows_per_strip(18000, 4000, 1 << 20) == 58);
    CHECK(rows_per_strip(5 << 20, 10, 1 << 20) == 1);  // a row larger than the target
    CHECK(rows_per_strip(100, 3, 1 << 20) == 3);
    Budgets b;
    CHECK(strip_target(b) == (1u << 20));
    b.memory = 16 << 20;
    CHECK(strip_target(b) == (256u << 10));
    b.memory = 0;
    CHECK(strip_target(b) == (64u << 10));
}

namespace {

uint8_t pattern(int x, int y, int c) { return static_cast<uint8_t>(x * 7 + y * 13 + c * 101 + (x * y) % 17); }

void fill(Pixels& p) {
    for (int y = 0; y < p.height(); ++y) {
        uint8_t* r = p.row(y);
        for (int x = 0; x < p.width(); ++x)
            for (int c = 0; c < p.channels(); ++c) r[x * p.channels() + c] = pattern(x, y, c);
    }
}

int mismatches(const Pixels& p) {
    int bad = 0;
    for (int y = 0; y < p.height(); ++y) {
        const uint8_t* r = p.row(y);
        for (int x = 0; x < p.width(); ++x)
            for (int c = 0; c < p.channels(); ++c) bad += r[x * p.channels() + c] != pattern(x, y, c);
    }
    return bad;
}

Budgets budgets(uint64_t memory, uint64_t map, uint64_t disk) {
    Budgets b;
    b.memory = memory;
    b.map = map;
    b.disk = disk;
    return b;
}

}  // namespace

TEST_CASE("pixels survive every tier and come back into memory") {
    struct Case {
        const char* name;
        Budgets b;
        Tier spill;
    };
    const uint64_t MiB = 1 << 20;
    for (const Case& k : {Case{"memory", budgets(kUnlimited, kUnlimited, kUnlimited), Tier::memory},
                          Case{"map", budgets(MiB, kUnlimited, kUnlimited), Tier::map},
                          Case{"map windows (memory 0)", budgets(0, kUnlimited, kUnlimited), Tier::map},
                          Case{"disk", budgets(MiB, 0, kUnlimited), Tier::disk},
                          Case{"disk (memory 0)", budgets(0, 0, kUnlimited), Tier::disk}}) {
        INFO(k.name);
        TierManager m([&] { return k.b; });
        {
            Pixels p(1000, 700, 3, 1, m);  // 2.1 MB in 64 KiB strips under a 1 MiB budget
            fill(p);
            mtool::cache::thread_release_all();
            CHECK(mismatches(p) == 0);
            mtool::cache::thread_release_all();
            const TierStats mem = m.stats(Tier::memory);
            if (k.b.memory != kUnlimited) {
                // Resident bytes stay within the budget plus the pinned working set.
                CHECK(mem.peak <= k.b.memory + kPinRing * p.stride() * p.rows_per_strip() +
                                      p.stride() * p.rows_per_strip());
                CHECK(m.stats(k.spill).tiles_out > 0);
                CHECK(m.stats(k.spill).peak > 0);
            } else {
                CHECK(m.stats(Tier::map).tiles_out == 0);
                CHECK(m.stats(Tier::disk).tiles_out == 0);
            }
            if (k.spill == Tier::disk) CHECK(m.stats(Tier::disk).tiles_in > 0);
            if (k.b.memory == MiB) CHECK(m.stats(k.spill).tiles_in > 0);  // came back up
        }
        // Everything is released with the image.
        CHECK(m.stats(Tier::memory).resident == 0);
        CHECK(m.stats(Tier::map).resident == 0);
        CHECK(m.stats(Tier::disk).resident == 0);
    }
}

TEST_CASE("a working set that fits stays in memory: hits, no spill traffic") {
    TierManager m([] { return budgets(64 << 20, kUnlimited, kUnlimited); });
    Pixels p(500, 400, 3, 1, m);
    fill(p);
    for (int pass = 0; pass < 3; ++pass) CHECK(mismatches(p) == 0);
    CHECK(m.stats(Tier::map).tiles_out == 0);
    CHECK(m.stats(Tier::memory).evictions == 0);
}

TEST_CASE("worker threads read and write one image concurrently under a tiny budget") {
    for (uint64_t memory : {uint64_t{256} << 10, uint64_t{0}}) {
        INFO("memory budget " << memory);
        TierManager m([&] { return budgets(memory, 2 << 20, kUnlimited); });
        Pixels src(800, 600, 3, 1, m), dst(800, 600, 3, 1, m);
        fill(src);
        mtool::cache::thread_release_all();
        mtool::ops::parallel_rows(600, 4, [&](int y0, int y1) {
            for (int y = y0; y < y1; ++y) std::memcpy(dst.row(y), src.row(y), src.stride());
        });
        mtool::cache::thread_release_all();
        CHECK(mismatches(dst) == 0);
        mtool::cache::thread_release_all();
        CHECK(m.stats(Tier::disk).tiles_out > 0);  // map budget too small for both: disk took the rest
    }
}

TEST_CASE("exhausted tiers and spill write errors are clean errors") {
    {
        TierManager m([] { return budgets(0, 0, 0); });
        Pixels p(1000, 700, 3, 1, m);
        bool threw = false;
        try {
            fill(p);
            mtool::cache::thread_release_all();
            for (int y = 0; y < p.height(); ++y) p.row(y);
        } catch (const mtool::Error& e) {
            threw = true;
            CHECK(std::string(e.text()).find("cache resources exhausted") != std::string::npos);
        }
        CHECK(threw);
        mtool::cache::thread_release_all();
    }
    for (int err : {ENOSPC, EIO}) {
        TierManager m([] { return budgets(128 << 10, kUnlimited, kUnlimited); });
        m.inject_write_fault(2, err);
        Pixels p(1000, 700, 3, 1, m);
        bool threw = false;
        try {
            fill(p);
        } catch (const mtool::Error& e) {
            threw = true;
            CHECK(std::string(e.text()).find(std::strerror(err)) != std::string::npos);
        }
        CHECK(threw);
        mtool::cache::thread_release_all();
    }
}

TEST_CASE("a Hold keeps rows valid while the thread touches many other strips") {
    TierManager m([] { return budgets(0, kUnlimited, kUnlimited); });
    Pixels a(300, 400, 1, 1, m), b(300, 400, 1, 1, m);
    fill(a);
    mtool::cache::thread_release_all();
    Pixels::Hold hold(a, 0, a.rows_per_strip(), false);
    const uint8_t* first = hold.row(0);
    for (int y = 0; y < b.height(); ++y) std::memset(b.row(y), y & 255, b.stride());  // churn the ring
    CHECK(first[5] == pattern(5, 0, 0));
    mtool::cache::thread_release_all();
}

TEST_CASE("a freed spill slot never shows its old pixels to the next strip") {
    // A pixel server holds many clients' images in one manager: an image created after another
    // is freed must read zeros where it has not written, in every tier (map windows reuse
    // slots of the map file directly).
    for (const Budgets& b : {budgets(0, kUnlimited, kUnlimited), budgets(0, 0, kUnlimited),
                             budgets(64 << 10, kUnlimited, kUnlimited), budgets(64 << 10, 0, kUnlimited),
                             budgets(64 << 20, kUnlimited, kUnlimited)}) {
        TierManager m([&] { return b; });
        {
            Pixels a(512, 512, 4, 2, m);
            fill(a);
            mtool::cache::thread_release_all();
        }
        mtool::cache::thread_release_all();
        Pixels c(512, 512, 4, 2, m);
        uint64_t nonzero = 0;
        for (int y = 0; y < c.height(); ++y) {
            const uint8_t* row = c.row(y);
            for (size_t i = 0; i < c.stride(); ++i) nonzero += row[i] != 0;
        }
        mtool::cache::thread_release_all();
        CHECK(nonzero == 0);
    }
}

TEST_CASE("a destroyed strip's frame serves the next strip of its size, zeroed") {
    // Streamed images let go of strips and make new ones all the time: reusing the frames saves
    // the page faults of fresh memory (a 6000x4000 streamed -negate: 56,000 -> 14,000).
    TierManager m([] { return budgets(64 << 20, kUnlimited, kUnlimited); });
    mtool::cache::Strip* a = m.create(1 << 20);
    uint8_t* fa = m.pin(a, true);
    std::memset(fa, 7, 1 << 20);
    m.unpin(a);
    mtool::cache::Strip* keep = m.create(1 << 20);  // something stays resident: the pool is kept
    m.pin(keep, true);
    m.unpin(keep);
    m.destroy(a);
    auto faults = [] {
        rusage u{};
        getrusage(RUSAGE_SELF, &u);
        return u.ru_minflt;
    };
    const long before = faults();
    mtool::cache::Strip* b = m.create(1 << 20);
    uint8_t* fb = m.pin(b, false);
    uint64_t nonzero = 0;
    for (size_t i = 0; i < (1u << 20); ++i) nonzero += fb[i] != 0;
    const long taken = faults() - before;
    CHECK(nonzero == 0);
    CHECK(fb == fa);
    CHECK(taken < 32);  // fresh memory: 256 faults of 4 KiB pages
    m.unpin(b);
    m.destroy(b);
    m.destroy(keep);
}
