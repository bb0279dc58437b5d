#pragma once
// Splits [0, n) rows over the worker threads of the command.
#include <algorithm>
#include <thread>
#include <vector>

namespace mtool::ops {

template <class Fn>
void parallel_rows(int n, int threads, Fn&& fn) {
    threads = std::max(1, std::min(threads, n / 64 + 1));
    if (threads == 1) {
        fn(0, n);
        return;
    }
    std::vector<std::thread> pool;
    int step = (n + threads - 1) / threads;
    for (int t = 0; t < threads; ++t) {
        int a = t * step, b = std::min(n, a + step);
        if (a < b) pool.emplace_back([&, a, b] { fn(a, b); });
    }
    for (auto& th : pool) th.join();
}

}  // namespace mtool::ops
