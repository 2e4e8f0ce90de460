// Dispatcher: the bounded EDF task queue and the W worker threads that drain it in batches.
//
// A free worker calls TakeNextBatch (dispatch_step.h): hopeless tasks are answered
// DEADLINE_EXCEEDED at once (late=drop) or run on the policy's fastest sub-net (late=serve); then
// the policy picks (sub-net, batch) and the worker pops that many tasks in EDF order and hands them
// to its BatchProcessor as one batch. If the policy chooses to wait (fixed:<subnet> with a queue
// delay), the worker waits on the Clock until the policy's retry time, a new arrival, or a drain.
//
// The dispatcher never sees the model or the tasks' inputs: each worker calls the BatchProcessor it
// was handed, with its own worker index, so the processor can keep one engine and one input buffer
// per worker. Time and waiting for a time go through the injected Clock, so a fake clock drives
// every decision.
//
// SwapModel replaces the policy and the processor together, for a new model (a reloaded bundle):
// every batch decided after it runs on the new pair; a batch already running finishes on the old
// one, which is released when its last batch is done.
//
// A task whose client gives up (Task::Cancelled) is taken out of the queue unrun by
// RemoveCancelled, which its front end calls when it learns of the cancellation, so it costs no
// compute and does not lengthen the queue the policy sees.
//
// Thread-safe. Ownership: Enqueue takes ownership of the task only when it returns OK (as in
// TensorFlow Serving's BatchScheduler::Schedule); it never blocks. Every accepted task's Finish
// runs exactly once before Drain returns: on a worker thread, or on the thread that removed it
// unrun (RemoveCancelled, or Drain when its deadline passes).
#ifndef TERNSERVE_SCHEDULER_DISPATCHER_H_
#define TERNSERVE_SCHEDULER_DISPATCHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "scheduler/clock.h"
#include "scheduler/dispatch_step.h"
#include "scheduler/dispatcher_observer.h"
#include "scheduler/edf_queue.h"
#include "scheduler/policy.h"
#include "scheduler/schedule_log.h"
#include "scheduler/task.h"

namespace ternserve {

// Runs one batch of tasks. Called from worker `worker` only (one call at a time per worker
// index), so per-worker state (an engine, an input buffer) needs no lock.
class BatchProcessor {
 public:
  virtual ~BatchProcessor() = default;
  // Runs `batch` (at least one task, all enqueued by this processor's front end, so it may
  // static_cast them to its own Task type) on sub-net `subnet_id`. On OK it has written every
  // task's result into the task; on an error no task has a result, and each gets the error.
  virtual absl::Status ProcessBatch(int worker, int subnet_id, absl::Span<Task* const> batch) = 0;
};

struct DispatcherOptions {
  // Worker threads; each runs one batch at a time. Default 1.
  int workers = 1;
  // Requests that may wait in the queue; beyond it Enqueue fails RESOURCE_EXHAUSTED. Default 1024.
  int max_queue = 1024;
  // What to do with requests no sub-net can serve in time. Default: answer DEADLINE_EXCEEDED.
  LateMode late = LateMode::kDrop;
  // The scheduling policy (CreatePolicy). Used only by this dispatcher, under its lock.
  // Null: fixed:`subnet_id` with `max_batch` and no queue delay, i.e. every free worker takes
  // whatever is queued up to max_batch; with no profile, a request counts as hopeless only once
  // its deadline has passed.
  std::shared_ptr<Policy> policy;
  // Only for a null policy: largest batch (default 32) and the sub-net every batch runs.
  int max_batch = 32;
  int subnet_id = 0;
  // Told the queue depth and every batch run (metrics). Borrowed; must outlive the dispatcher.
  // Null (the default): nobody is told. Costs one virtual call per push, pop and batch.
  DispatcherObserver* observer = nullptr;
  // Empty (the default): workers run wherever the OS puts them. Else one CPU per worker: worker w's
  // thread is pinned to worker_cpus[w] (see cpu_affinity.h); pin_status() says if that failed.
  std::vector<int> worker_cpus;
  // How long a worker whose queue is empty keeps polling it before it sleeps (0, the default: it
  // sleeps at once). A request that arrives meanwhile starts without a thread wake-up, which
  // costs tens to hundreds of µs on a VM; the price is a busy CPU. Meant for workers on CPUs of
  // their own (worker_cpus).
  absl::Duration idle_spin = absl::ZeroDuration();
  // Told every accepted request, decision and batch (ternserve --schedule_log), for replay in the
  // simulator. Borrowed; must outlive the dispatcher. Null (the default): nothing is recorded.
  ScheduleRecorder* recorder = nullptr;
};

class Dispatcher {
 public:
  // Starts the workers. `processor` and `clock` must outlive the dispatcher.
  Dispatcher(const DispatcherOptions& options, BatchProcessor* processor, Clock* clock);
  // The same, sharing the processor's ownership (so that SwapModel can release it).
  Dispatcher(const DispatcherOptions& options, std::shared_ptr<BatchProcessor> processor,
             Clock* clock);
  // Drains (see Drain) and joins the workers.
  ~Dispatcher();

  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // OK: the task is queued and its Finish will be called exactly once. RESOURCE_EXHAUSTED: the
  // queue is full. UNAVAILABLE: the dispatcher is draining. CANCELLED: the task is already
  // cancelled. INVALID_ARGUMENT: a null task. Accuracy floors (Task::min_accuracy > 0), and only
  // they: OUT_OF_RANGE when no sub-net the policy runs is that accurate; DEADLINE_EXCEEDED when
  // the fastest that is cannot finish it before its deadline (a request that no sub-net at all
  // could finish is queued, and the hopeless rule answers it as any other). On error the task is
  // left with the caller.
  //
  // Once queued, a request runs only on a sub-net that meets its floor; if it becomes hopeless
  // for its floor alone it is finished DEADLINE_EXCEEDED with TaskOutcome::refused_for_floor
  // (late=drop), and so is one whose floor a model swapped in by SwapModel cannot meet
  // (OUT_OF_RANGE).
  absl::Status Enqueue(std::unique_ptr<Task>* task);

  // Takes every queued task whose Cancelled() is true out of the queue and finishes it, on this
  // thread, unrun (batch_size 0): CANCELLED, or DEADLINE_EXCEEDED if its deadline has passed or
  // is within the last kExpiryShare of its time (deadline - arrival; at least 1 ms), since then it
  // was a miss whoever gave up. Tasks already in a running batch are not affected. A front end
  // calls it after marking its tasks cancelled; since Enqueue refuses a cancelled task under the
  // same lock, no cancelled task is left queued afterwards.
  void RemoveCancelled();
  static constexpr double kExpiryShare = 0.1;

  // Stops accepting, lets the workers finish everything queued (a waiting policy is told to
  // flush), and returns when they are idle and joined. If `deadline` passes on the clock first,
  // whatever is still queued is finished at once with UNAVAILABLE (it never runs); batches
  // already running complete. Idempotent.
  void Drain(absl::Time deadline = absl::InfiniteFuture());

  // From now on every batch is decided by `policy` and run by `processor` (both non-null; the
  // processor serves the same number of workers). Batches already running finish on the old
  // processor, which the dispatcher lets go of when the last of them is done; the old policy hears
  // of those batches' end (OnBatchDone) and is then let go of too. Workers waiting on the old
  // policy's retry time decide again at once. INVALID_ARGUMENT for a null policy or processor;
  // FAILED_PRECONDITION once draining has begun.
  absl::Status SwapModel(std::shared_ptr<Policy> policy, std::shared_ptr<BatchProcessor> processor);

  int queue_depth() const;
  // The policy deciding the next batch.
  std::shared_ptr<const Policy> policy() const;
  // OK unless options.worker_cpus was given and pinning a worker failed (the first error; that
  // worker runs unpinned).
  const absl::Status& pin_status() const { return pin_status_; }
  // Workers polling the empty queue right now (DispatcherOptions::idle_spin).
  int spinning_workers() const { return spinning_.load(std::memory_order_acquire); }

 private:
  using Queue = EdfQueue<std::unique_ptr<Task>>;

  void WorkerLoop(int worker);
  // Returns when a task is queued, the dispatcher drains, or idle_spin has passed on the clock.
  void SpinWhileIdle();
  bool WorkOrDraining() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs one batch on `worker` with `processor`, finishes every task in it, and returns how it
  // went. A late batch's tasks never count as deadline_met.
  // `started`, `finished` and `met` (requests that met their deadline) are filled in for the
  // schedule log.
  BatchOutcome RunBatch(int worker, BatchProcessor& processor, const Decision& decision,
                        std::vector<Queue::Entry>* batch, std::vector<Task*>* tasks,
                        absl::Time* started, absl::Time* finished, int* met);
  // Finishes tasks taken out of the queue unrun with `status`, and clears `entries`.
  void FinishUnrun(std::vector<Queue::Entry>* entries, const absl::Status& status,
                   bool refused_for_floor = false);
  // After the queue shrank outside a batch: the mirrors and the observer.
  void OnQueueShrunk() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const int workers_count_;
  const LateMode late_;
  const absl::Duration idle_spin_;
  Clock* const clock_;
  DispatcherObserver* const observer_;  // never null: a no-op one stands in
  ScheduleRecorder* const recorder_;    // may be null
  absl::Status pin_status_;             // set by the constructor only

  mutable absl::Mutex mu_;
  // The model's pair, replaced together by SwapModel. The policy's Choose and OnBatchDone are
  // called under mu_ only; the processor outside it, on a copy of the pointer taken with the
  // decision, so a batch runs on the processor of the policy that chose it.
  std::shared_ptr<Policy> policy_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<BatchProcessor> processor_ ABSL_GUARDED_BY(mu_);
  Queue queue_ ABSL_GUARDED_BY(mu_);
  uint64_t arrivals_ ABSL_GUARDED_BY(mu_) = 0;  // wakes workers waiting on the policy
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Mirrors of queue_.size() and draining_, written under mu_, polled without it by SpinWhileIdle.
  std::atomic<int> queued_{0};
  std::atomic<bool> draining_flag_{false};
  std::atomic<int> spinning_{0};

  absl::Mutex join_mu_;  // serializes Drain's joins
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_DISPATCHER_H_
