// SlackFit (after SuperServe, arXiv 2312.16733): pick the (sub-net, batch) whose latency uses up
// as much of the head request's slack as possible, preferring big batches when the queue is long.
//
//   1. At construction, every profiled (sub-net, batch) pair becomes a choice with its p99
//      latency, unless another sub-net is at least as fast and as accurate at that batch (and
//      better in one); the choices are grouped into equal-width latency buckets between the
//      smallest and the largest p99.
//   2. slack = earliest deadline - now - measured dispatch overhead.
//   3. The bucket of the slowest choice that fits the slack (p99 <= slack) is taken.
//   4. In it, among the choices that fit, the largest batch the queue can fill wins; ties go to
//      the more accurate sub-net. If the queue cannot fill any batch of that bucket, the next
//      faster bucket is tried.
//   5. Under a backlog (a queue of kMinDrainQueue or more) a choice must also drain it: repeating
//      it must serve the whole queue, ceil(queue / batch) x (p99 + overhead), within the head's
//      SLO (x drain_factor). The slowest bucket with such a choice wins as in 3-4; if no choice
//      drains the queue, the highest-throughput choice (batch / (p99 + overhead)) that fits the
//      slack runs. Plain SlackFit has no step 5: above the fastest sub-net's capacity it picks
//      a slow sub-net at the largest batch whenever a fresh head has slack, and the backlog grows.
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
  // `drain_factor` > 0 enables step 5 (see the class comment); 0 is plain SlackFit.
  SlackFitPolicy(const LatencyProfile& profile, int num_buckets, int max_batch,
                 double drain_factor = kDefaultDrainFactor);

  // Share of the head's SLO in which a queue must be drainable by repeating the choice (step 5).
  static constexpr double kDefaultDrainFactor = 1.0;
  // Step 5 applies to queues at least this long. Shorter ones drain in a few batches of any
  // sub-net: on the evaluation profile, thresholds 1, 3 and 8 gave identical results.
  static constexpr int kMinDrainQueue = 8;

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
  // Whether repeating `c` serves `queue_size` requests within `horizon_us`.
  bool Drains(const Choice& c, int queue_size, double horizon_us) const;

  std::vector<std::vector<Choice>> buckets_;
  std::vector<double> bucket_min_us_;  // smallest p99 in each bucket
  std::vector<Choice> by_throughput_;  // every choice, by batch / (p99 + overhead), descending
  double drain_factor_ = 0;
  HopelessRule hopeless_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_SLACKFIT_H_
