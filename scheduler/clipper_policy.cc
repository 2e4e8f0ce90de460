// clipper policy. See clipper_policy.h.
#include "scheduler/clipper_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ternserve {

ClipperPolicy::ClipperPolicy(int subnet_id, int max_batch, absl::Duration min_latency,
                             absl::Duration overhead)
    : subnet_id_(subnet_id), batch_cap_(max_batch) {
  hopeless_.overhead = overhead;
  hopeless_.min_latency = min_latency;
  hopeless_.late_subnet_id = subnet_id;
  hopeless_.late_max_batch = std::max(1, max_batch);
}

std::string ClipperPolicy::name() const { return absl::StrCat("clipper:", subnet_id_); }

Decision ClipperPolicy::Choose(absl::Time /*now*/, const QueueView& queue) const {
  return Decision::Run(subnet_id_, std::min(queue.size, batch_cap()));
}

void ClipperPolicy::OnBatchDone(const BatchOutcome& outcome) {
  if (outcome.subnet_id != subnet_id_ || outcome.batch <= 0) return;  // a late=serve batch
  batch_cap_.Update(outcome.all_deadlines_met);
}

}  // namespace ternserve
