#include "models/thread_pool.h"

#include <chrono>

namespace ternserve {
namespace {

// How long an idle worker spins before it sleeps: long enough to span the gap between two layers
// of one batch, short enough not to burn a core between batches.
constexpr auto kSpin = std::chrono::microseconds(200);
// A claim index no job has (jobs have fewer than 2^31 tasks).
constexpr uint64_t kNoTask = 0x7fffffffu;

void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : workers_) t.join();
}

bool ThreadPool::StopOrNewJob(uint32_t seen) const {
  return stop_ || generation_.load(std::memory_order_acquire) != seen;
}

void ThreadPool::RunTasks(uint32_t generation) {
  while (true) {
    uint64_t claim = claim_.load(std::memory_order_acquire);
    if (static_cast<uint32_t>(claim >> 32) != generation) return;
    const int index = static_cast<int>(claim & 0x7fffffffu);
    // Acquire: if this is the next job's count, the claim_ store that closed the old job (see
    // ParallelFor) is visible too, so the compare-exchange below fails.
    if (index >= tasks_.load(std::memory_order_acquire)) return;
    if (!claim_.compare_exchange_weak(claim, claim + 1, std::memory_order_acq_rel)) continue;
    // The claim succeeded, so job `generation` is still current and cannot be replaced before
    // this task is counted done: fn_ is this job's.
    (*fn_.load(std::memory_order_relaxed))(index);
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::ParallelFor(int n, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  const uint32_t generation = ++last_generation_;
  // Close the previous job first: a worker that read its last claim (all tasks taken) but sees this
  // job's larger task count must not be able to claim "the next index" of the old generation and
  // run this job's fn with it (that ran an index twice and let ParallelFor return early).
  claim_.store(static_cast<uint64_t>(generation) << 32 | kNoTask, std::memory_order_relaxed);
  fn_.store(&fn, std::memory_order_relaxed);
  tasks_.store(n, std::memory_order_release);
  done_.store(0, std::memory_order_relaxed);
  claim_.store(static_cast<uint64_t>(generation) << 32, std::memory_order_release);
  {
    // Bumped under the mutex so a worker about to sleep cannot miss it; the unlock wakes sleepers.
    absl::MutexLock lock(&mu_);
    generation_.store(generation, std::memory_order_release);
  }
  RunTasks(generation);
  while (done_.load(std::memory_order_acquire) != n) CpuRelax();
}

void ThreadPool::WorkerLoop() {
  uint32_t seen = 0;
  while (true) {
    const auto spin_until = std::chrono::steady_clock::now() + kSpin;
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spin_until) {
      CpuRelax();
    }
    if (generation_.load(std::memory_order_acquire) == seen) {
      absl::MutexLock lock(&mu_);
      auto ready = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return StopOrNewJob(seen); };
      mu_.Await(absl::Condition(&ready));
      if (stop_) return;
    }
    seen = generation_.load(std::memory_order_acquire);
    RunTasks(seen);
  }
}

}  // namespace ternserve
