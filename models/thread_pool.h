// A fixed pool of threads for fork-join loops inside one inference: ParallelFor(n, fn) runs fn(0),
// ..., fn(n - 1) across the pool and the calling thread and returns when all are done.
//
// Inference calls ParallelFor once per layer, tens of times per batch, so the hand-off must cost
// microseconds, not a futex round trip each time: idle workers spin on an atomic generation counter
// for a short while before they block on the pool's mutex (absl::Mutex::Await). A pool of size 1
// runs everything on the caller.
//
// Thread-safety: ParallelFor must not be called concurrently on one pool (an Engine runs one batch
// at a time). fn must be safe to call concurrently for different indices.
#ifndef TERNSERVE_MODELS_THREAD_POOL_H_
#define TERNSERVE_MODELS_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ternserve {

class ThreadPool {
 public:
  // `threads` >= 1 counts the caller: threads - 1 workers are started.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(i) for i in [0, n); the caller takes part. Returns when every call has returned.
  void ParallelFor(int n, const std::function<void(int)>& fn);

 private:
  void WorkerLoop();
  // Claims and runs indices of job `generation` until none are left (or a newer job started).
  void RunTasks(uint32_t generation);

  // Returns whether the pool stops; else job `seen` has been replaced by a newer one.
  bool StopOrNewJob(uint32_t seen) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::vector<std::thread> workers_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;

  // The current job. A task is claimed by a compare-exchange on claim_ = generation << 32 | next
  // index, so a worker that wakes late for an old job can never claim (or run) a task of a newer
  // one; and ParallelFor returns once all n claimed tasks are done, without waiting for idle or
  // sleeping workers. fn_ and tasks_ are published before claim_ (release).
  std::atomic<const std::function<void(int)>*> fn_{nullptr};
  std::atomic<int> tasks_{0};
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> done_{0};
  // Wakes workers: written under mu_ (whose release re-evaluates the sleepers' condition), read
  // without it by spinning workers.
  std::atomic<uint32_t> generation_{0};
  uint32_t last_generation_ = 0;  // caller-only
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_THREAD_POOL_H_
