// DispatcherObserver: how the Dispatcher reports what it does (queue depth, batches run) to whoever
// wants to know, e.g. the server's Prometheus metrics (server/metrics.h). The scheduler stays free
// of any metrics library: it calls this interface and nothing else.
//
// Ownership: the observer is borrowed (DispatcherOptions::observer) and must outlive the
// dispatcher. Thread-safety: implementations must be thread-safe; the calls come from Enqueue's
// callers and from every worker. They must be cheap (an atomic update, a short lock at most) and
// must not call back into the dispatcher: OnQueueDepth runs under the dispatcher's lock.
#ifndef TERNSERVE_SCHEDULER_DISPATCHER_OBSERVER_H_
#define TERNSERVE_SCHEDULER_DISPATCHER_OBSERVER_H_

#include "absl/time/time.h"

namespace ternserve {

class DispatcherObserver {
 public:
  virtual ~DispatcherObserver() = default;

  // Requests waiting in the queue, after a push (Enqueue) or a pop (a batch taken, hopeless
  // requests dropped). Called under the dispatcher's lock, so calls arrive in queue order and the
  // last one is the current depth.
  virtual void OnQueueDepth(int depth) = 0;

  // A worker ran one batch of `batch_size` requests on sub-net `subnet_id` in `compute_time`
  // (successfully or not). Called on the worker, before the batch's requests are completed.
  virtual void OnBatchDone(int subnet_id, int batch_size, absl::Duration compute_time) = 0;

  // The policy's latency scale (Policy::latency_scale) after it heard of a batch: 1 while the
  // engine runs as profiled, or with no latency model. Called under the dispatcher's lock, after
  // every batch. Default: ignored.
  virtual void OnLatencyScale(double /*scale*/) {}
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_DISPATCHER_OBSERVER_H_
