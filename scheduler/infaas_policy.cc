// infaas policy. See infaas_policy.h.
#include "scheduler/infaas_policy.h"

#include <algorithm>

namespace ternserve {

InfaasPolicy::InfaasPolicy(const LatencyProfile& profile, int max_batch)
    : by_accuracy_(profile.subnets), max_batch_(std::max(1, max_batch)) {
  std::stable_sort(by_accuracy_.begin(), by_accuracy_.end(),
                   [](const SubnetLatency& a, const SubnetLatency& b) {
                     if (a.accuracy != b.accuracy) return a.accuracy > b.accuracy;
                     return P99Us(a, 1) < P99Us(b, 1);
                   });
  hopeless_ = FastestSubnetHopelessRule(profile, max_batch_);
  SetRunnableSubnets(profile);
}

Decision InfaasPolicy::Choose(absl::Time now, const QueueView& queue) const {
  const double slack_us = ScaledSlackUs(now, queue.earliest_deadline, hopeless_.overhead);
  // Accuracy floors: only sub-nets at least as accurate as the head's floor, each at a batch of
  // the requests it may serve.
  for (int batch = std::min(queue.size, max_batch_); batch >= 1; batch /= 2) {
    for (const SubnetLatency& subnet : by_accuracy_) {
      if (subnet.accuracy < queue.head_floor) break;  // by accuracy: no later one meets it either
      const int n = std::min(batch, queue.Servable(subnet.accuracy));
      if (P99Us(subnet, n) <= slack_us) return Decision::Run(subnet.id, n);
    }
  }
  const FloorTier* tier = TierFor(queue.head_floor);
  return Decision::Run(tier != nullptr ? tier->fastest_id : hopeless_.late_subnet_id, 1);
}

}  // namespace ternserve
