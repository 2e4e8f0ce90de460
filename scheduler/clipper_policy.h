// clipper[:<subnet>]: after Clipper (Crankshaw et al., NSDI 2017, §4.3): one fixed sub-net, and an
// adaptive batch-size cap tuned by AIMD. A free worker takes min(queue size, cap) requests at
// once. After each batch, the cap grows by 1 if every request in it met its deadline and shrinks
// by 10% (at least to 1) if any missed.
//
// Choose is const; the cap changes only in OnBatchDone. Thread-compatible: the caller serializes
// Choose and OnBatchDone (see policy.h).
#ifndef TERNSERVE_SCHEDULER_CLIPPER_POLICY_H_
#define TERNSERVE_SCHEDULER_CLIPPER_POLICY_H_

#include <string>

#include "scheduler/policy.h"

namespace ternserve {

class ClipperPolicy final : public Policy {
 public:
  // Multiplicative decrease factor on a miss, from the Clipper paper.
  static constexpr double kBackoff = 0.9;

  // max_batch >= 1 bounds the cap; min_latency/overhead feed the hopeless rule (see FixedPolicy).
  ClipperPolicy(int subnet_id, int max_batch, absl::Duration min_latency, absl::Duration overhead);

  std::string name() const override;
  Decision Choose(absl::Time now, const QueueView& queue) const override;
  HopelessRule hopeless_rule() const override { return hopeless_; }
  void OnBatchDone(const BatchOutcome& outcome) override;

  int batch_cap() const { return static_cast<int>(batch_cap_); }

 private:
  const int subnet_id_;
  const int max_batch_;
  HopelessRule hopeless_;
  double batch_cap_ = 1;  // AIMD state, in [1, max_batch_]
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_CLIPPER_POLICY_H_
