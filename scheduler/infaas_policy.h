// infaas: after INFaaS (Romero et al., USENIX ATC 2021): batch what the queue holds (up to
// max_batch) and run it on the most accurate sub-net whose p99 latency at that batch fits the
// head's slack. If no sub-net fits at that batch, the batch is halved until one does.
//
// Unlike SlackFit it never trades batch size against sub-net accuracy: the batch is whatever has
// queued up, so under bursts it tends to run big batches on fast sub-nets, and at low load it picks
// the most accurate sub-net without regard to how much slack that leaves for the next request.
//
// Immutable after construction; Choose is const and thread-compatible.
#ifndef TERNSERVE_SCHEDULER_INFAAS_POLICY_H_
#define TERNSERVE_SCHEDULER_INFAAS_POLICY_H_

#include <string>
#include <vector>

#include "scheduler/latency_profile.h"
#include "scheduler/policy.h"

namespace ternserve {

class InfaasPolicy final : public Policy {
 public:
  // `profile` must be valid. max_batch >= 1.
  InfaasPolicy(const LatencyProfile& profile, int max_batch);

  std::string name() const override { return "infaas"; }
  Decision Choose(absl::Time now, const QueueView& queue) const override;
  HopelessRule hopeless_rule() const override { return hopeless_; }

 private:
  std::vector<SubnetLatency> by_accuracy_;  // most accurate first
  const int max_batch_;
  HopelessRule hopeless_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_INFAAS_POLICY_H_
