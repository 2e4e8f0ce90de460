// SlackFit (after SuperServe, arXiv 2312.16733): pick the (sub-net, batch) whose latency uses up
// as much of the head request's slack as possible, preferring big batches when the queue is long.
//
//   1. At construction, every profiled (sub-net, batch) pair becomes a choice with its p99
//      latency; the choices are grouped into equal-width latency buckets between the smallest and
//      the largest p99.
//   2. slack = earliest deadline - now - measured dispatch overhead.
//   3. The bucket of the slowest choice that fits the slack (p99 <= slack) is taken.
//   4. In it, among the choices that fit, the largest batch the queue can fill wins; ties go to
//      the more accurate sub-net. If the queue cannot fill any batch of that bucket, the next
//      faster bucket is tried.
// At light load the queue holds one request, so the slowest batch-1 choice that fits wins: the most
// accurate sub-net. As the queue grows, bigger batches of the same latency win, and those are
// the faster, less accurate sub-nets. Latency stays near the slack either way.
//
// Immutable after construction; Choose is const and thread-compatible.
#ifndef TERNSERVE_SCHEDULER_SLACKFIT_H_
#define TERNSERVE_SCHEDULER_SLACKFIT_H_

#include <string>
#include <vector>

#include "scheduler/latency_profile.h"
#include "scheduler/policy.h"

namespace ternserve {

class SlackFitPolicy final : public Policy {
 public:
  // `profile` must be valid. `num_buckets` >= 1. `max_batch` > 0 drops larger profiled batches.
  SlackFitPolicy(const LatencyProfile& profile, int num_buckets, int max_batch);

  std::string name() const override { return "slackfit"; }
  Decision Choose(absl::Time now, const QueueView& queue) const override;
  HopelessRule hopeless_rule() const override { return hopeless_; }

  struct Choice {
    int subnet_id;
    int batch;
    double p99_us;
    double accuracy;
  };
  // Buckets in increasing latency; each sorted by batch (desc), then accuracy (desc). Empty
  // buckets are left out. Exposed for tests.
  const std::vector<std::vector<Choice>>& buckets() const { return buckets_; }

 private:
  std::vector<std::vector<Choice>> buckets_;
  std::vector<double> bucket_min_us_;  // smallest p99 in each bucket
  HopelessRule hopeless_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_SLACKFIT_H_
