// TakeNextBatch: one dispatch decision for a free worker, shared by the Dispatcher (real threads)
// and the simulator (simulated clock), so both run exactly the same scheduling logic:
//
//   1. Hopeless heads (HopelessRule: no sub-net the policy would use can finish them in time; for
//      a request with an accuracy floor, no sub-net meeting the floor: MinLatencyForFloor) are
//      popped. late=drop: they go to `dropped`, to be answered DEADLINE_EXCEEDED at once.
//      late=serve: up to late_max_batch of them become this batch, on the fastest sub-net that
//      meets all their floors (the late sub-net when none has one). Either way they count as
//      misses. Without floors EDF order puts every hopeless request at the head.
//   2. Otherwise the policy chooses (sub-net, batch) and that many requests are popped in EDF
//      order into `batch`. With late=drop, the head requests due before the decision's
//      shed_before go to `dropped` first (a policy under overload sheds what its batch would
//      finish too late anyway).
//   3. Accuracy floors: the batch takes only requests whose floor the chosen sub-net meets
//      (EdfQueue::PopServable); it passes over the others, which stay queued, but for those
//      already hopeless for their floor, which go to `dropped` with late=drop. The policy chose a
//      sub-net that meets the head's floor and a batch of requests it may serve
//      (QueueView::Servable), so the batch is as large as decided.
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

// Accuracy floors at admission, shared by Dispatcher::Enqueue and the simulator: OK if a request
// of floor `floor` (0: none) due at `deadline` may be queued at `now` under `policy`.
// OUT_OF_RANGE when no sub-net the policy runs meets the floor; DEADLINE_EXCEEDED when the
// fastest that does cannot finish it in time though a faster one below the floor could
// (HopelessForFloorAlone). A request no sub-net at all could finish is admitted, and the hopeless
// rule answers it as any other (per --late).
absl::Status AdmitFloor(const Policy& policy, double floor, absl::Time deadline, absl::Time now);

// Whether a request of floor `min_accuracy` due at `deadline` is hopeless at `now` for its floor
// alone: its slack is below Policy::MinLatencyForFloor, but not below the plain rule's minimum
// (`rule`: the policy's ScaledHopelessRule). False for min_accuracy <= 0.
bool HopelessForFloorAlone(const Policy& policy, const HopelessRule& rule, double min_accuracy,
                           absl::Time deadline, absl::Time now);

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
  using Entry = typename EdfQueue<Payload>::Entry;
  const HopelessRule rule = policy.ScaledHopelessRule();
  const auto hopeless = [&](const Entry& e) {
    const absl::Duration need =
        e.min_accuracy > 0 ? policy.MinLatencyForFloor(e.min_accuracy) : rule.min_latency;
    return e.deadline - now - rule.overhead < need;
  };
  double late_floor = 0;  // the highest floor in a late=serve batch
  while (!queue->empty() && hopeless(queue->top())) {
    // A floor no sub-net of the policy meets (after a model swap) is never served late either.
    const double floor = queue->top().min_accuracy;
    if (late == LateMode::kDrop || (floor > 0 && policy.TierFor(floor) == nullptr)) {
      dropped->push_back(queue->Pop());
    } else {
      late_floor = std::max(late_floor, floor);
      batch->push_back(queue->Pop());
      if (static_cast<int>(batch->size()) >= std::max(1, rule.late_max_batch)) break;
    }
  }
  if (!batch->empty()) {
    const FloorTier* tier = late_floor > 0 ? policy.TierFor(late_floor) : nullptr;
    Decision late_batch = Decision::Run(tier != nullptr ? tier->fastest_id : rule.late_subnet_id,
                                        static_cast<int>(batch->size()));
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
  if (decision.batch <= 0) return decision;
  if (!queue->has_floors()) {
    for (int i = 0; i < decision.batch; ++i) batch->push_back(queue->Pop());
    return decision;
  }
  const auto drop_hopeless = [&](const Entry& e) { return late == LateMode::kDrop && hopeless(e); };
  queue->PopServable(decision.batch, policy.AccuracyOf(decision.subnet_id), drop_hopeless, batch,
                     dropped);
  if (batch->empty() && !queue->empty()) {
    // The policy chose a sub-net below the head's floor (a policy that ignores floors): the head
    // runs alone on the fastest sub-net that meets its floor, never below it.
    const FloorTier* tier = policy.TierFor(queue->top().min_accuracy);
    if (tier == nullptr) {
      dropped->push_back(queue->Pop());
      return Decision::WaitUntil(absl::InfiniteFuture());
    }
    decision = Decision::Run(tier->fastest_id, 1);
    batch->push_back(queue->Pop());
  }
  decision.batch = static_cast<int>(batch->size());
  if (decision.batch == 0) return Decision::WaitUntil(absl::InfiniteFuture());
  return decision;
}

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_DISPATCH_STEP_H_
