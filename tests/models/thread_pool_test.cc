// ThreadPool: every index of every job runs exactly once, across many back-to-back jobs (the
// engine's per-layer pattern), with workers that are spinning, asleep, or waking late.
#include "models/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ternserve {
namespace {

TEST(ThreadPoolTest, EveryIndexOfEveryJobRunsExactlyOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int job = 0; job < 2000; ++job) {
      const int n = 1 + job % 9;
      std::vector<std::atomic<int>> runs(n);
      pool.ParallelFor(n, [&](int i) { runs[i].fetch_add(1); });
      for (int i = 0; i < n; ++i) ASSERT_EQ(runs[i].load(), 1) << "job " << job << " index " << i;
      // Now and then let the workers fall asleep, so the next job must wake them (or run without).
      if (job % 500 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
}

// Preempted workers are what exposed a race (an old job's last claim taking a task of the next job:
// an index ran twice, and ParallelFor returned early or spun forever); a busy thread per core
// makes preemption between a worker's reads likely.
TEST(ThreadPoolTest, ExactlyOnceWhileOtherThreadsCompeteForTheCores) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> hogs;
  for (unsigned c = 0; c < std::max(2u, std::thread::hardware_concurrency()); ++c) {
    hogs.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
      }
    });
  }
  ThreadPool pool(4);
  for (int job = 0; job < 3000; ++job) {
    const int n = 1 + job % 7;
    std::vector<std::atomic<int>> runs(n);
    pool.ParallelFor(n, [&](int i) { runs[i].fetch_add(1); });
    bool once = true;
    for (int i = 0; i < n; ++i) once = once && runs[i].load() == 1;
    if (!once) {
      ADD_FAILURE() << "job " << job << ": an index did not run exactly once";
      break;
    }
  }
  stop = true;
  for (std::thread& t : hogs) t.join();
}

TEST(ThreadPoolTest, UsesTheWorkersWhenTheyAreAwake) {
  ThreadPool pool(2);
  std::atomic<int> other_thread{0};
  const std::thread::id caller = std::this_thread::get_id();
  for (int job = 0; job < 200; ++job) {
    pool.ParallelFor(2, [&](int) {
      if (std::this_thread::get_id() != caller) other_thread.fetch_add(1);
      // Long enough that the caller cannot take both tasks before a spinning worker claims one.
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (std::chrono::steady_clock::now() < until) {
      }
    });
  }
  EXPECT_GT(other_thread.load(), 0);
}

TEST(ThreadPoolTest, EmptyAndSingleJobsRunInline) {
  ThreadPool pool(3);
  int calls = 0;
  pool.ParallelFor(0, [&](int) { ++calls; });
  EXPECT_EQ(calls, 0);
  pool.ParallelFor(1, [&](int i) { calls += 1 + i; });
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ternserve
