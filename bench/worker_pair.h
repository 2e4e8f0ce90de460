// WorkerPair: runs one task split in two halves, on the calling thread and one persistent helper.
//
// Why not std::thread per call: a per-layer call at batch 1 takes 10-100 us, and creating a thread
// costs tens of us, which would be measured instead of the kernel. The helper spins for a short
// while after each task (so back-to-back calls hand over in well under a microsecond, as LibTorch's
// OpenMP pool does) and then sleeps on a condition variable, so it does not steal a core from
// LibTorch's threads while the other columns are being measured.
//
// This is benchmark plumbing until TernaryEngine's thread pool exists; then the per-layer suite
// can use that pool instead. Run() may be called from one thread at a time.
#ifndef TERNSERVE_BENCH_WORKER_PAIR_H_
#define TERNSERVE_BENCH_WORKER_PAIR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace ternserve::bench {

class WorkerPair {
 public:
  WorkerPair();
  ~WorkerPair();
  WorkerPair(const WorkerPair&) = delete;
  WorkerPair& operator=(const WorkerPair&) = delete;

  // Runs task(0) on the calling thread and task(1) on the helper; returns when both are done.
  void Run(const std::function<void(int part)>& task);

 private:
  void HelperLoop();

  std::thread helper_;
  const std::function<void(int)>* task_ = nullptr;  // valid while a Run is in flight
  std::atomic<uint64_t> posted_{0};                 // tasks handed to the helper
  std::atomic<uint64_t> finished_{0};               // tasks the helper completed
  std::atomic<bool> stop_{false};
  std::mutex mu_;  // only for sleeping; the hand-over itself is the atomics above
  std::condition_variable wake_;
};

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_WORKER_PAIR_H_
