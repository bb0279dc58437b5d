#pragma once
// Splits [0, n) rows over the worker threads of the command. An exception thrown by a worker
// (an I/O error of the pixel cache, a time limit) is carried back and rethrown to the caller.
// When the executor has installed a progress sink (-monitor), each thread's range is run in
// small pieces and the rows done are reported as they complete.
#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mtool::ops {

/// Receives "done of total" as rows complete; called from worker threads (serialise inside).
struct ProgressSink {
    virtual ~ProgressSink() = default;
    virtual void advance(long done, long total) = 0;
};
/// The sink of the operator running on this (the calling) thread; nullptr without -monitor.
inline thread_local ProgressSink* progress_sink = nullptr;

/// `grain`: the least work units worth a thread of their own (rows: 64; strips: 1). A thread
/// is started per call: an image of fewer than two grains runs on the calling thread (a batch
/// of small images spent more on starting threads than on their pixels).
template <class Fn>
void parallel_rows(int n, int threads, Fn&& fn, int grain = 64) {
    threads = std::max(1, std::min(threads, n / grain));
    ProgressSink* sink = progress_sink;
    std::atomic<long> done{0};
    auto run = [&](int a, int b) {
        if (!sink) {
            fn(a, b);
            return;
        }
        const int piece = std::max(1, (b - a) / 32);
        for (int s = a; s < b; s += piece) {
            const int e = std::min(b, s + piece);
            fn(s, e);
            sink->advance(done += e - s, n);
        }
    };
    if (threads == 1) {
        run(0, n);
        return;
    }
    std::vector<std::thread> pool;
    std::exception_ptr failure;
    std::mutex mu;
    int step = (n + threads - 1) / threads;
    for (int t = 0; t < threads; ++t) {
        int a = t * step, b = std::min(n, a + step);
        if (a < b)
            pool.emplace_back([&, a, b] {
                try {
                    run(a, b);
                } catch (...) {
                    std::lock_guard lock(mu);
                    if (!failure) failure = std::current_exception();
                }
            });
    }
    for (auto& th : pool) th.join();
    if (failure) std::rethrow_exception(failure);
}

}  // namespace mtool::ops
