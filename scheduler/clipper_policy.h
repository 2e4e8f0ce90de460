// clipper[:<subnet>]: after Clipper (Crankshaw et al., NSDI 2017, §4.3): one fixed sub-net, and an
// adaptive batch-size cap tuned by AIMD. A free worker takes min(queue size, cap) requests at
// once. After each batch, the cap grows by 1 if every request in it met its deadline and shrinks
// by 10% (at least to 1) if any missed.
//
// Choose is const; the cap changes only in OnBatchDone. Thread-compatible: the caller serializes
// Choose and OnBatchDone (see policy.h).
#ifndef TERNSERVE_SCHEDULER_CLIPPER_POLICY_H_
#define TERNSERVE_SCHEDULER_CLIPPER_POLICY_H_

#include <algorithm>
#include <string>

#include "scheduler/policy.h"

namespace ternserve {

// Clipper's AIMD batch cap, in [1, max_batch]: +1 after a batch whose requests all met their
// deadlines, x kBackoff after one that missed. Starts at 1.
class AimdBatchCap {
 public:
  // Multiplicative decrease factor on a miss, from the Clipper paper.
  static constexpr double kBackoff = 0.9;

  explicit AimdBatchCap(int max_batch) : max_batch_(std::max(1, max_batch)) {}
  void Update(bool all_deadlines_met) {
    cap_ = all_deadlines_met ? std::min(static_cast<double>(max_batch_), cap_ + 1)
                             : std::max(1.0, cap_ * kBackoff);
  }
  int value() const { return static_cast<int>(cap_); }

 private:
  int max_batch_;
  double cap_ = 1;
};

class ClipperPolicy final : public Policy {
 public:
  static constexpr double kBackoff = AimdBatchCap::kBackoff;

  // max_batch >= 1 bounds the cap; min_latency/overhead feed the hopeless rule (see FixedPolicy).
  ClipperPolicy(int subnet_id, int max_batch, absl::Duration min_latency, absl::Duration overhead);

  std::string name() const override;
  Decision Choose(absl::Time now, const QueueView& queue) const override;
  HopelessRule hopeless_rule() const override { return hopeless_; }
  void OnBatchDone(const BatchOutcome& outcome) override;

  int batch_cap() const { return batch_cap_.value(); }

 private:
  const int subnet_id_;
  HopelessRule hopeless_;
  AimdBatchCap batch_cap_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_CLIPPER_POLICY_H_
