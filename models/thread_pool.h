// A fixed pool of threads for fork-join loops inside one inference: ParallelFor(n, fn) runs fn(0),
// ..., fn(n - 1) across the pool and the calling thread and returns when all are done.
//
// Inference calls ParallelFor once per layer, tens of times per batch, so the hand-off must cost
// microseconds, not a futex round trip each time: idle workers spin on an atomic generation counter
// for a short while before they block on a condition variable. A pool of size 1 runs everything on
// the caller.
//
// Thread-safety: ParallelFor must not be called concurrently on one pool (an Engine runs one batch
// at a time). fn must be safe to call concurrently for different indices.
#ifndef TERNSERVE_MODELS_THREAD_POOL_H_
#define TERNSERVE_MODELS_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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
  // Claims and runs indices of the current job until none are left.
  void RunTasks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_

  // The current job. fn_ and tasks_ are written by ParallelFor only while every worker is outside
  // RunTasks, before generation_ is bumped (release); workers read them after seeing the bump.
  const std::function<void(int)>* fn_ = nullptr;
  int tasks_ = 0;
  std::atomic<int> next_{0};      // next index to claim
  std::atomic<int> finished_{0};  // workers that have left the current job
  std::atomic<uint64_t> generation_{0};
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_THREAD_POOL_H_
