#include "bench/worker_pair.h"

#include <immintrin.h>

#include <chrono>

namespace ternserve::bench {
namespace {

// How long the helper keeps spinning after a task before it sleeps.
constexpr std::chrono::microseconds kSpin(200);

}  // namespace

WorkerPair::WorkerPair() : helper_([this] { HelperLoop(); }) {}

WorkerPair::~WorkerPair() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
  }
  wake_.notify_one();
  helper_.join();
}

void WorkerPair::Run(const std::function<void(int)>& task) {
  task_ = &task;
  uint64_t ticket;
  {
    // The lock orders the post against a helper that is about to sleep (no lost wake-up).
    std::lock_guard<std::mutex> lock(mu_);
    ticket = posted_.fetch_add(1, std::memory_order_release) + 1;
  }
  wake_.notify_one();
  task(0);
  while (finished_.load(std::memory_order_acquire) != ticket) _mm_pause();
}

void WorkerPair::HelperLoop() {
  uint64_t seen = 0;
  for (;;) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpin;
    int polls = 0;
    while (posted_.load(std::memory_order_acquire) == seen && !stop_.load()) {
      _mm_pause();
      if (++polls % 256 == 0 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return posted_.load() != seen || stop_.load(); });
      }
    }
    if (stop_.load()) return;
    seen = posted_.load(std::memory_order_acquire);
    (*task_)(1);
    finished_.store(seen, std::memory_order_release);
  }
}

}  // namespace ternserve::bench
