#pragma once
// Splits [0, n) rows over the worker threads of the command. An exception thrown by a worker
// (an I/O error of the pixel cache, a time limit) is carried back and rethrown to the caller.
#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mtool::ops {

/// `grain`: the least work units worth a thread of their own (rows: 64; strips: 1).
template <class Fn>
void parallel_rows(int n, int threads, Fn&& fn, int grain = 64) {
    threads = std::max(1, std::min(threads, n / grain + (grain > 1 ? 1 : 0)));
    if (threads == 1) {
        fn(0, n);
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
                    fn(a, b);
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
