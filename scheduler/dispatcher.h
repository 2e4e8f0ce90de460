// Dispatcher: the request queue and the worker threads that drain it in batches.
//
// For now the policy is fixed: every batch runs `subnet_id`, with as many queued requests as are
// waiting (up to max_batch), in FIFO order. The slack-aware policies replace this choice later; the
// plumbing (queue bound, workers, drain on shutdown, exactly-once completion) stays.
//
// The dispatcher never sees the model: each worker calls the BatchProcessor it was handed, with its
// own worker index, so the processor can keep one engine per worker.
//
// Thread-safe. Ownership: Enqueue takes ownership of the request only when it returns OK (as in
// TensorFlow Serving's BatchScheduler::Schedule); it never blocks.
#ifndef TERNSERVE_SCHEDULER_DISPATCHER_H_
#define TERNSERVE_SCHEDULER_DISPATCHER_H_

#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "scheduler/clock.h"
#include "scheduler/request.h"

namespace ternserve {

// Runs one batch. Called from worker `worker` only (one call at a time per worker index).
class BatchProcessor {
 public:
  virtual ~BatchProcessor() = default;
  // `images` holds batch x 784 floats. Returns batch x num_classes logits.
  virtual absl::StatusOr<std::vector<float>> ProcessBatch(int worker, int subnet_id,
                                                          absl::Span<const float> images,
                                                          int batch) = 0;
};

struct DispatcherOptions {
  // Worker threads; each runs one batch at a time. Default 1.
  int workers = 1;
  // Largest batch a worker forms. Larger batches raise throughput and queueing delay. Default 32.
  int max_batch = 32;
  // Requests that may wait in the queue; beyond it Enqueue fails RESOURCE_EXHAUSTED. Default 1024.
  int max_queue = 1024;
  // The sub-net every batch runs (fixed policy).
  int subnet_id = 0;
};

class Dispatcher {
 public:
  // Starts the workers. `processor` and `clock` must outlive the dispatcher.
  Dispatcher(const DispatcherOptions& options, BatchProcessor* processor, Clock* clock);
  // Drains (see Drain) and joins the workers.
  ~Dispatcher();

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // OK: the request is queued and its on_done will be called exactly once. RESOURCE_EXHAUSTED: the
  // queue is full. UNAVAILABLE: the dispatcher is draining. INVALID_ARGUMENT: the image is not
  // kRequestImageFloats floats or on_done is empty. On error the request is left with the caller.
  absl::Status Enqueue(std::unique_ptr<Request>* request);

  // Stops accepting, lets the workers finish everything queued, and returns when they are idle and
  // joined. Idempotent.
  void Drain();

  int queue_depth() const;

 private:
  void WorkerLoop(int worker);
  bool WorkOrDraining() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs one batch on `worker` and completes every request in it.
  void RunBatch(int worker, std::vector<std::unique_ptr<Request>> batch);

  // Constant after construction.
  const DispatcherOptions options_;
  BatchProcessor* const processor_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Request>> queue_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex join_mu_;  // serializes Drain's joins
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_DISPATCHER_H_
