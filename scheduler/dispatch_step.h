// TakeNextBatch: one dispatch decision for a free worker, shared by the Dispatcher (real threads)
// and the simulator (simulated clock), so both run exactly the same scheduling logic:
//
//   1. Hopeless heads (HopelessRule: no sub-net the policy would use can finish them in time) are
//      popped. late=drop: they go to `dropped`, to be answered DEADLINE_EXCEEDED at once.
//      late=serve: up to late_max_batch of them become this batch, on the late (fastest) sub-net.
//      Either way they count as misses. EDF order puts every hopeless request at the head.
//   2. Otherwise the policy chooses (sub-net, batch) and that many requests are popped in EDF
//      order into `batch`. With late=drop, the head requests due before the decision's
//      shed_before go to `dropped` first (a policy under overload sheds what its batch would
//      finish too late anyway).
//
// Pure function of its arguments; not thread-safe (the caller owns the queue and the policy).
#ifndef TERNSERVE_SCHEDULER_DISPATCH_STEP_H_
#define TERNSERVE_SCHEDULER_DISPATCH_STEP_H_

#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/edf_queue.h"
#include "scheduler/policy.h"

namespace ternserve {

// What happens to hopeless requests (--late).
enum class LateMode { kDrop, kServe };

// "drop" or "serve"; INVALID_ARGUMENT otherwise.
absl::StatusOr<LateMode> ParseLateMode(absl::string_view text);

// Returns the decision. decision.batch > 0: `batch` holds exactly that many entries to run on
// decision.subnet_id now. decision.batch == 0: nothing to run; if the queue is not empty, ask again
// at decision.retry_at or on the next arrival. `batch` and `dropped` are cleared first; `flush`
// tells the policy not to wait for more arrivals.
template <typename Payload>
Decision TakeNextBatch(absl::Time now, bool flush, const Policy& policy, LateMode late,
                       EdfQueue<Payload>* queue,
                       std::vector<typename EdfQueue<Payload>::Entry>* batch,
                       std::vector<typename EdfQueue<Payload>::Entry>* dropped) {
  batch->clear();
  dropped->clear();
  const HopelessRule rule = policy.ScaledHopelessRule();
  while (!queue->empty() && rule.IsHopeless(queue->top().deadline, now)) {
    if (late == LateMode::kDrop) {
      dropped->push_back(queue->Pop());
    } else {
      batch->push_back(queue->Pop());
      if (static_cast<int>(batch->size()) >= std::max(1, rule.late_max_batch)) break;
    }
  }
  if (!batch->empty()) {
    Decision late_batch = Decision::Run(rule.late_subnet_id, static_cast<int>(batch->size()));
    late_batch.late = true;
    return late_batch;
  }
  if (queue->empty()) return Decision::WaitUntil(absl::InfiniteFuture());
  Decision decision = policy.Choose(now, queue->View(now, flush));
  if (decision.batch > 0 && late == LateMode::kDrop) {
    while (!queue->empty() && queue->top().deadline < decision.shed_before) {
      dropped->push_back(queue->Pop());
    }
    if (queue->empty()) return Decision::WaitUntil(absl::InfiniteFuture());
  }
  decision.batch = std::min(decision.batch, queue->size());
  for (int i = 0; i < decision.batch; ++i) batch->push_back(queue->Pop());
  return decision;
}

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_DISPATCH_STEP_H_
