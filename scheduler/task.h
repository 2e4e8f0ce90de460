// Task: one unit of work as the scheduler sees it — an arrival, a deadline, and a way to tell its
// owner how it went. The scheduler moves tasks, never their inputs: it hands a batch of tasks to
// the worker's BatchProcessor, which knows the concrete task type (the front end's), reads each
// task's input and writes each task's result into it (as TensorFlow Serving hands a Batch<Task> to
// its callback). So scheduler/ knows no image size and copies no pixels.
//
// A front end may split one request into several tasks (a request of N images: N tasks) that
// share one completion of its own; the scheduler does not know.
//
// Thread-compatible: a task is touched by one thread at a time (its creator, then the worker that
// runs it).
#ifndef TERNSERVE_SCHEDULER_TASK_H_
#define TERNSERVE_SCHEDULER_TASK_H_

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ternserve {

// How a task went, filled in by the dispatcher.
struct TaskOutcome {
  // OK: it ran and the batch processor wrote its result into the task. Otherwise why it has no
  // result: DEADLINE_EXCEEDED (no sub-net could make its deadline, late=drop), CANCELLED (its
  // client gave up while it was queued), UNAVAILABLE (still queued when a drain's deadline
  // passed) or the batch processor's error.
  absl::Status status;
  int subnet_id = -1;           // the sub-net its batch ran on; -1 if it never ran
  int batch_size = 0;           // its batch's size; 0 if it never ran
  absl::Duration queue_time;    // arrival -> batch start (or -> the drop)
  absl::Duration compute_time;  // the batch's run time
  bool deadline_met = false;    // finished OK at or before the deadline, not as a late batch
  // It never ran because of its accuracy floor: no sub-net at or above it could finish it in time
  // (status DEADLINE_EXCEEDED), or, after a model swap, none is that accurate (OUT_OF_RANGE).
  bool refused_for_floor = false;
};

class Task {
 public:
  // `min_accuracy`: the request's accuracy floor, in [0, 1]; 0 (the default) is none.
  Task(absl::Time arrival, absl::Time deadline, double min_accuracy = 0)
      : arrival_(arrival), deadline_(deadline), min_accuracy_(min_accuracy) {}
  virtual ~Task() = default;

  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  // When the server received the request.
  absl::Time arrival() const { return arrival_; }
  // arrival + SLO, or an earlier client deadline.
  absl::Time deadline() const { return deadline_; }
  // The least expected accuracy of a sub-net that may serve it (0: any). The dispatcher runs it
  // only on a sub-net at least this accurate, and refuses it at Enqueue when the policy runs none.
  double min_accuracy() const { return min_accuracy_; }

  // True once the task's client has given up (cancelled its call, or its gRPC deadline passed).
  // The dispatcher refuses such a task in Enqueue and removes it from the queue, unrun, in
  // RemoveCancelled. Called under the dispatcher's lock from any thread: must be cheap and
  // thread-safe (an atomic load).
  virtual bool Cancelled() const { return false; }

  // Called exactly once by the dispatcher for every task it accepted: on a worker thread, or on
  // the thread that removed it unrun (Dispatcher::RemoveCancelled, or Drain past its deadline);
  // the dispatcher destroys the task right after. Must not block for long, and must not call back
  // into the dispatcher.
  virtual void Finish(const TaskOutcome& outcome) = 0;

 private:
  const absl::Time arrival_;
  const absl::Time deadline_;
  const double min_accuracy_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_TASK_H_
