// fixed:<subnet> policy. See fixed_policy.h.
#include "scheduler/fixed_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ternserve {

FixedPolicy::FixedPolicy(int subnet_id, int max_batch, absl::Duration max_queue_delay,
                         absl::Duration min_latency, absl::Duration overhead)
    : subnet_id_(subnet_id),
      max_batch_(std::max(1, max_batch)),
      max_queue_delay_(std::max(absl::ZeroDuration(), max_queue_delay)) {
  hopeless_.overhead = overhead;
  hopeless_.min_latency = min_latency;
  hopeless_.late_subnet_id = subnet_id;
  hopeless_.late_max_batch = max_batch_;
}

std::string FixedPolicy::name() const { return absl::StrCat("fixed:", subnet_id_); }

Decision FixedPolicy::Choose(absl::Time now, const QueueView& queue) const {
  if (queue.size >= max_batch_) return Decision::Run(subnet_id_, max_batch_);
  const absl::Time release = queue.head_arrival + max_queue_delay_;
  if (queue.flush || now >= release) return Decision::Run(subnet_id_, queue.size);
  return Decision::WaitUntil(release);
}

}  // namespace ternserve
