// Dispatcher: EDF queue, policy-driven batches, W worker threads. See dispatcher.h.
#include "scheduler/dispatcher.h"

#include <pthread.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "scheduler/fixed_policy.h"
#include "util/cpu_affinity.h"

namespace ternserve {
namespace {

// Stands in for a null DispatcherOptions::observer, so the hot path needs no null checks.
class NoopObserver final : public DispatcherObserver {
 public:
  void OnQueueDepth(int /*depth*/) override {}
  void OnBatchDone(int /*subnet_id*/, int /*batch_size*/,
                   absl::Duration /*compute_time*/) override {}
};

DispatcherObserver* ObserverOrNoop(DispatcherObserver* observer) {
  static NoopObserver* const noop = new NoopObserver();
  return observer != nullptr ? observer : noop;
}

std::shared_ptr<Policy> PolicyOrDefault(const DispatcherOptions& options) {
  if (options.policy != nullptr) return options.policy;
  return std::make_shared<FixedPolicy>(options.subnet_id, options.max_batch, absl::ZeroDuration());
}

}  // namespace

Dispatcher::Dispatcher(const DispatcherOptions& options, BatchProcessor* processor, Clock* clock)
    // Borrowed: a shared_ptr that owns nothing.
    : Dispatcher(options, std::shared_ptr<BatchProcessor>(std::shared_ptr<void>(), processor),
                 clock) {}

Dispatcher::Dispatcher(const DispatcherOptions& options, std::shared_ptr<BatchProcessor> processor,
                       Clock* clock)
    : workers_count_(std::max(1, options.workers)),
      late_(options.late),
      idle_spin_(std::max(absl::ZeroDuration(), options.idle_spin)),
      clock_(clock),
      observer_(ObserverOrNoop(options.observer)),
      recorder_(options.recorder),
      policy_(PolicyOrDefault(options)),
      processor_(std::move(processor)),
      queue_(options.max_queue) {
  absl::MutexLock lock(&join_mu_);
  workers_.reserve(static_cast<size_t>(workers_count_));
  for (int w = 0; w < workers_count_; ++w) {
    workers_.emplace_back([this, w] { WorkerLoop(w); });
    if (w < static_cast<int>(options.worker_cpus.size()) && pin_status_.ok()) {
      pin_status_ = PinThread(workers_.back(), options.worker_cpus[w]);
    }
  }
}

Dispatcher::~Dispatcher() { Drain(); }

absl::Status Dispatcher::Enqueue(std::unique_ptr<Task>* task) {
  if (task == nullptr || *task == nullptr) {
    return absl::InvalidArgumentError("Enqueue: null task");
  }
  absl::MutexLock lock(&mu_);
  if (draining_) {
    return absl::UnavailableError("server is shutting down");
  }
  if ((*task)->Cancelled()) {
    return absl::CancelledError("the client cancelled the request before it was queued");
  }
  if (queue_.full()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request queue is full (", queue_.capacity(), " requests waiting)"));
  }
  const absl::Time arrival = (*task)->arrival();
  const absl::Time deadline = (*task)->deadline();
  const double floor = (*task)->min_accuracy();
  if (floor > 0) {
    if (absl::Status servable = AdmitFloor(*policy_, floor, deadline, clock_->Now());
        !servable.ok()) {
      return servable;
    }
  }
  queue_.Push(arrival, deadline, std::move(*task), floor);
  if (recorder_ != nullptr) recorder_->OnEnqueued(arrival, clock_->Now(), deadline);
  ++arrivals_;
  queued_.store(queue_.size(), std::memory_order_release);
  observer_->OnQueueDepth(queue_.size());
  return absl::OkStatus();
}

void Dispatcher::RemoveCancelled() {
  std::vector<Queue::Entry> cancelled;
  {
    absl::MutexLock lock(&mu_);
    queue_.RemoveIf([](const std::unique_ptr<Task>& task) { return task->Cancelled(); },
                    &cancelled);
    if (cancelled.empty()) return;
    if (recorder_ != nullptr) recorder_->OnCancelled(static_cast<int>(cancelled.size()));
    OnQueueShrunk();
  }
  // Those whose deadline has passed, or all but, were misses whoever gave up. "All but": the
  // client's own deadline timer cancels the call (RST_STREAM) at its deadline, which reaches the
  // server before the server's copy of the deadline (later by the request's delivery time, ms
  // under load) passes; so the last kExpiryShare of a request's time counts as expired.
  const absl::Time now = clock_->Now();
  const auto live_end =
      std::partition(cancelled.begin(), cancelled.end(), [now](const Queue::Entry& e) {
        const absl::Duration margin =
            std::max(absl::Milliseconds(1), kExpiryShare * (e.deadline - e.arrival));
        return e.deadline - now > margin;
      });
  std::vector<Queue::Entry> expired(std::make_move_iterator(live_end),
                                    std::make_move_iterator(cancelled.end()));
  cancelled.erase(live_end, cancelled.end());
  FinishUnrun(&cancelled,
              absl::CancelledError("the client cancelled the request while it was queued"));
  FinishUnrun(&expired,
              absl::DeadlineExceededError("the request's deadline passed while it was queued"));
}

void Dispatcher::Drain(absl::Time deadline) {
  std::vector<Queue::Entry> abandoned;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    draining_flag_.store(true, std::memory_order_release);
    if (deadline != absl::InfiniteFuture()) {
      auto empty = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty(); };
      // A deadline already past abandons the queue before a worker can take from it.
      const bool emptied = clock_->Now() < deadline
                               ? clock_->AwaitWithDeadline(mu_, absl::Condition(&empty), deadline)
                               : queue_.empty();
      if (!emptied) {
        while (!queue_.empty()) abandoned.push_back(queue_.Pop());
        OnQueueShrunk();
      }
    }
  }
  if (!abandoned.empty()) {
    FinishUnrun(&abandoned, absl::UnavailableError(
                                "the server shut down before this request ran (drain timeout)"));
  }
  absl::MutexLock lock(&join_mu_);
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

bool Dispatcher::WorkOrDraining() const { return !queue_.empty() || draining_; }

absl::Status Dispatcher::SwapModel(std::shared_ptr<Policy> policy,
                                   std::shared_ptr<BatchProcessor> processor) {
  if (policy == nullptr || processor == nullptr) {
    return absl::InvalidArgumentError("SwapModel: null policy or processor");
  }
  std::vector<Queue::Entry> unservable;
  double max_accuracy = 0;
  {
    absl::MutexLock lock(&mu_);
    if (draining_) return absl::FailedPreconditionError("the dispatcher is draining");
    policy_ = std::move(policy);
    processor_ = std::move(processor);
    ++arrivals_;  // a worker waiting on the old policy's retry time decides again
    // Queued requests whose floor the new model's sub-nets cannot meet are answered now.
    max_accuracy = policy_->max_accuracy();
    if (queue_.has_floors()) {
      const Policy& policy = *policy_;  // read under mu_, here; the lambda runs before it is let go
      queue_.RemoveIf(
          [&policy](const std::unique_ptr<Task>& task) {
            return task->min_accuracy() > 0 && policy.TierFor(task->min_accuracy()) == nullptr;
          },
          &unservable);
      if (!unservable.empty()) OnQueueShrunk();
    }
  }
  FinishUnrun(&unservable,
              absl::OutOfRangeError(absl::StrCat(
                  "the model was replaced while this request was queued, and no sub-net of the "
                  "new one meets its min_accuracy (the most accurate: ",
                  max_accuracy, ")")),
              /*refused_for_floor=*/true);
  return absl::OkStatus();
}

std::shared_ptr<const Policy> Dispatcher::policy() const {
  absl::MutexLock lock(&mu_);
  return policy_;
}

int Dispatcher::queue_depth() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void Dispatcher::WorkerLoop(int worker) {
  // Named so that top -H, perf and taskset can tell the workers from gRPC's threads.
  pthread_setname_np(pthread_self(), absl::StrCat("ts-worker-", worker).substr(0, 15).c_str());
  std::vector<Queue::Entry> batch;
  std::vector<Queue::Entry> dropped;
  std::vector<Queue::Entry> floor_dropped;  // dropped for their accuracy floor alone
  std::vector<Task*> tasks;  // the batch as the processor sees it; reused, like `batch`
  for (;;) {
    SpinWhileIdle();
    Decision decision;
    // The pair that decided this batch; the batch runs on its processor, its policy hears the end.
    std::shared_ptr<Policy> policy;
    std::shared_ptr<BatchProcessor> processor;
    int64_t log_index = -1;
    {
      absl::MutexLock lock(&mu_);
      for (;;) {
        mu_.Await(absl::Condition(this, &Dispatcher::WorkOrDraining));
        // Draining still serves what is queued; a worker leaves only once the queue is empty.
        if (queue_.empty()) return;
        const absl::Time now = clock_->Now();
        decision = TakeNextBatch(now, draining_, *policy_, late_, &queue_, &batch, &dropped);
        // Those dropped for their floor alone get their own answer, and are counted as such.
        if (!dropped.empty()) {
          const Policy& deciding = *policy_;
          const HopelessRule rule = deciding.ScaledHopelessRule();
          const auto kept =
              std::stable_partition(dropped.begin(), dropped.end(), [&](const Queue::Entry& e) {
                return !HopelessForFloorAlone(deciding, rule, e.min_accuracy, e.deadline, now);
              });
          std::move(kept, dropped.end(), std::back_inserter(floor_dropped));
          dropped.erase(kept, dropped.end());
        }
        queued_.store(queue_.size(), std::memory_order_relaxed);
        if (recorder_ != nullptr) {
          recorder_->OnDropped(now, static_cast<int>(dropped.size() + floor_dropped.size()));
          if (decision.batch > 0) {
            log_index =
                recorder_->OnDecided(now, decision.subnet_id, decision.batch, decision.late);
          }
        }
        const bool any_dropped = !dropped.empty() || !floor_dropped.empty();
        if (decision.batch > 0 || any_dropped) observer_->OnQueueDepth(queue_.size());
        if (decision.batch > 0) {
          policy = policy_;
          processor = processor_;
        }
        if (decision.batch > 0 || any_dropped || queue_.empty()) break;
        // The policy waits for the batch to fill: sleep until its retry time, an arrival or a
        // drain, whichever is first.
        const uint64_t seen = arrivals_;
        auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return arrivals_ != seen || draining_;
        };
        clock_->AwaitWithDeadline(mu_, absl::Condition(&changed), decision.retry_at);
      }
    }
    if (!dropped.empty()) {
      FinishUnrun(&dropped, absl::DeadlineExceededError(
                                "this request cannot be finished before its deadline "
                                "(late=drop): no sub-net is fast enough, or under overload the "
                                "batch that would take it finishes too late"));
    }
    if (!floor_dropped.empty()) {
      FinishUnrun(&floor_dropped,
                  absl::DeadlineExceededError(
                      "this request cannot be finished before its deadline on a sub-net at or "
                      "above its min_accuracy (late=drop): the sub-nets that meet it are too slow "
                      "for the time left"),
                  /*refused_for_floor=*/true);
    }
    if (decision.batch > 0) {
      absl::Time started, finished;
      int met = 0;
      const BatchOutcome outcome =
          RunBatch(worker, *processor, decision, &batch, &tasks, &started, &finished, &met);
      if (recorder_ != nullptr) {
        recorder_->OnBatchDone(log_index, started, finished, clock_->Now(), met);
      }
      {
        absl::MutexLock lock(&mu_);
        policy->BatchDone(outcome);
        observer_->OnLatencyScale(policy->latency_scale());
      }
      // A swapped-out pair is released here, outside the lock, by the last batch that used it.
      policy.reset();
      processor.reset();
    }
  }
}

void Dispatcher::SpinWhileIdle() {
  if (idle_spin_ <= absl::ZeroDuration()) return;
  spinning_.fetch_add(1, std::memory_order_acq_rel);
  const absl::Time until = clock_->Now() + idle_spin_;
  int polls = 0;
  while (queued_.load(std::memory_order_acquire) == 0 &&
         !draining_flag_.load(std::memory_order_acquire)) {
    CpuRelax();
    // Reading the clock costs more than a poll; check it every 64 polls (a few µs).
    if (++polls % 64 == 0 && clock_->Now() >= until) break;
  }
  spinning_.fetch_sub(1, std::memory_order_acq_rel);
}

void Dispatcher::OnQueueShrunk() {
  queued_.store(queue_.size(), std::memory_order_relaxed);
  observer_->OnQueueDepth(queue_.size());
}

void Dispatcher::FinishUnrun(std::vector<Queue::Entry>* entries, const absl::Status& status,
                             bool refused_for_floor) {
  const absl::Time now = clock_->Now();
  for (Queue::Entry& entry : *entries) {
    TaskOutcome outcome;
    outcome.status = status;
    outcome.refused_for_floor = refused_for_floor;
    outcome.queue_time = now - entry.arrival;
    entry.payload->Finish(outcome);
    entry.payload.reset();
  }
  entries->clear();
}

BatchOutcome Dispatcher::RunBatch(int worker, BatchProcessor& processor, const Decision& decision,
                                  std::vector<Queue::Entry>* batch, std::vector<Task*>* tasks,
                                  absl::Time* started, absl::Time* finished, int* met) {
  const int subnet_id = decision.subnet_id;
  const int batch_size = static_cast<int>(batch->size());
  tasks->clear();
  for (const Queue::Entry& entry : *batch) tasks->push_back(entry.payload.get());

  const absl::Time start = clock_->Now();
  const absl::Status status = processor.ProcessBatch(worker, subnet_id, *tasks);
  const absl::Time finish = clock_->Now();
  observer_->OnBatchDone(subnet_id, batch_size, finish - start);

  BatchOutcome outcome{subnet_id, batch_size, finish - start, status.ok()};
  TaskOutcome done;
  done.status = status;
  done.subnet_id = subnet_id;
  done.batch_size = batch_size;
  done.compute_time = finish - start;
  for (Queue::Entry& entry : *batch) {
    done.queue_time = start - entry.arrival;
    done.deadline_met = status.ok() && !decision.late && finish <= entry.deadline;
    outcome.all_deadlines_met = outcome.all_deadlines_met && done.deadline_met;
    *met += done.deadline_met ? 1 : 0;
    entry.payload->Finish(done);
    entry.payload.reset();
  }
  batch->clear();
  tasks->clear();
  *started = start;
  *finished = finish;
  return outcome;
}

}  // namespace ternserve
