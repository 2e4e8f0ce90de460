// OnlineLatencyModel: how much slower than its latency profile the engine runs right now.
//
// A profile is measured once, minutes or days before the server serves with it; on a shared VM the
// engine then runs 5-20% slower in spells (CPU steal), and a policy that trusts the table misses
// SLOs it planned to meet. The model compares every batch's measured compute time with what the
// profile predicts for that sub-net and batch size (p50 + overhead, and p99 + overhead) and keeps
// one correction factor, `scale`, that the policy applies to the whole table: every latency it
// reasons about is multiplied by it (Policy::latency_scale).
//
//   scale = clamp(max(median of the last `window` measured / (p50 + overhead),
//                     tail_quantile of the last `window` measured / (p99 + overhead)),
//                 min_scale, max_scale)
//
// The median follows a uniform slowdown (every batch 1.5x slower: the median ratio is 1.5). The
// tail term follows a machine that turns noisy without its median moving: it leaves 1 only when
// more than 1 - tail_quantile of the recent batches overran their profiled p99, which an engine
// as profiled does for 1% of them. Both are order statistics of a window, so:
//   - a step slowdown is followed within a bounded number of batches: the tail term within
//     window - floor(tail_quantile x window) batches (2 of 16), the median within window / 2;
//   - the scale returns to 1 once the machine recovers, at most `window` batches later;
//   - one outlier (a batch preempted for 50 ms) moves neither statistic: the tail quantile of 16
//     is the second-largest ratio, and max_scale bounds what several can do.
// The floor of 1 keeps the policy from planning below its profile on the evidence of a few fast
// batches: the profile's p99 is the promise the SLOs were set against. Until min_samples batches
// have been seen the scale stays 1.
//
// Global, not per sub-net: interference slows every sub-net alike (they share the machine), and
// one factor learns from every batch, also for the sub-nets the policy has stopped picking.
//
// Pure and clock-free: fed batch outcomes by its Policy (Policy::BatchDone), which the Dispatcher
// and the simulator call under their own serialization. Thread-compatible.
#ifndef TERNSERVE_SCHEDULER_LATENCY_MODEL_H_
#define TERNSERVE_SCHEDULER_LATENCY_MODEL_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "scheduler/latency_profile.h"

namespace ternserve {

struct LatencyModelOptions {
  int window = 16;             // batches remembered, in [min_samples, 4096]
  int min_samples = 8;         // batches before the scale may leave 1, >= 1
  double tail_quantile = 0.9;  // of measured / (p99 + overhead), in [0.5, 1)
  double min_scale = 1.0;      // bounds of the scale, 0 < min_scale <= 1 <= max_scale <= 100
  double max_scale = 4.0;
};

// OK, or INVALID_ARGUMENT naming the field out of range.
absl::Status ValidateLatencyModelOptions(const LatencyModelOptions& options);

class OnlineLatencyModel {
 public:
  // `profile` must be valid and `options` pass ValidateLatencyModelOptions. The model keeps what it
  // needs of the profile (the predictions of every profiled sub-net).
  OnlineLatencyModel(const LatencyProfile& profile, const LatencyModelOptions& options);

  // A batch of `batch` requests on `subnet_id` took `compute_time`. Batches of a sub-net the
  // profile does not know, of batch < 1, or with a non-positive time are ignored.
  void Observe(int subnet_id, int batch, absl::Duration compute_time);

  // The factor on every profiled latency, in [min_scale, max_scale].
  double scale() const { return scale_; }
  // The two statistics behind it (1 before min_samples batches).
  double median_ratio() const { return median_ratio_; }
  double tail_ratio() const { return tail_ratio_; }
  // Batches observed so far (all of them, not only those in the window).
  int64_t observed() const { return observed_; }
  const LatencyModelOptions& options() const { return options_; }

 private:
  // Recomputes the statistics and the scale from the window.
  void Update();

  LatencyModelOptions options_;
  double overhead_us_ = 0;
  std::vector<SubnetLatency> subnets_;
  // Ring buffers of the last `window` ratios.
  std::vector<double> to_p50_, to_p99_;
  size_t next_ = 0;
  int64_t observed_ = 0;
  std::vector<double> scratch_;
  double median_ratio_ = 1, tail_ratio_ = 1, scale_ = 1;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_LATENCY_MODEL_H_
