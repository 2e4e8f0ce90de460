// fixed:<subnet>: Triton-style dynamic batching on one sub-net. A batch runs as soon as the queue
// holds `max_batch` requests, or once the head request has waited `max_queue_delay`, with
// whatever is queued (up to max_batch). With max_queue_delay = 0 a free worker never waits: it
// takes everything queued, up to max_batch (the server's pre-scheduler behaviour).
//
// Deadlines play no part in the choice; only the dispatcher's hopeless-request rule sees them, and
// for this policy "hopeless" means the fixed sub-net cannot finish a batch of 1 in time.
//
// Immutable after construction; Choose is const and thread-compatible.
#ifndef TERNSERVE_SCHEDULER_FIXED_POLICY_H_
#define TERNSERVE_SCHEDULER_FIXED_POLICY_H_

#include <string>

#include "scheduler/policy.h"

namespace ternserve {

class FixedPolicy final : public Policy {
 public:
  // No profile needed: `min_latency` and `overhead` feed the hopeless rule (zero: a request is
  // hopeless only once its deadline has passed). max_batch >= 1.
  FixedPolicy(int subnet_id, int max_batch, absl::Duration max_queue_delay,
              absl::Duration min_latency = absl::ZeroDuration(),
              absl::Duration overhead = absl::ZeroDuration());

  std::string name() const override;
  Decision Choose(absl::Time now, const QueueView& queue) const override;
  HopelessRule hopeless_rule() const override { return hopeless_; }

 private:
  const int subnet_id_;
  const int max_batch_;
  const absl::Duration max_queue_delay_;
  HopelessRule hopeless_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_FIXED_POLICY_H_
