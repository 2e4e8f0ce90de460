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
//      it on every worker must serve the whole queue within the head's SLO (x drain_factor),
//      while requests keep arriving at the recent rate (QueueView::arrival_rate): queue /
//      (workers x batch / (mean + overhead) - rate) <= SLO; with no rate known,
//      ceil(queue / batch) x (mean + overhead) <= SLO. The slowest bucket with such a choice wins
//      as in 3-4. Throughput is a matter of the mean latency (MeanLatencyUs), fitting the slack one
//      of the p99. Plain SlackFit has no step 5: above the fastest sub-net's capacity it picks a
//      slow sub-net at the largest batch whenever a fresh head has slack, and the backlog grows.
//   6. Only sustainable sub-nets are used: those whose capacity under the head's SLO (the largest
//      workers x batch / (mean + overhead) over batches with p99 + overhead <= SLO) is at least
//      sustain_margin x the recent arrival rate (QueueView::arrival_rate); if none is, the one with
//      the largest capacity. Steps 3-5 see the queue as it is now; a burst's arrivals are still to
//      come, and a slow sub-net chosen at its start (the queue short, the slack large) falls behind
//      it.
//   7. A backlog no choice drains is overload: the highest-throughput sustainable choice runs,
//      whether the head fits or not, and sheds (Decision::shed_before) the head requests due
//      before it would finish them (its p99 + overhead from now). Those would miss anyway; served
//      in EDF order, each batch would spend itself on requests about to expire and finish them
//      late, and every request behind them would wait into the same fate. Holding out for the
//      head with a small batch that fits its slack costs the throughput the rest of the queue
//      needs. Measured (bench/drift_eval, MMPP bursts at 0.7x): 92.0% of SLOs met with shedding,
//      65.6% without (then with Clipper's AIMD batch cap; with shedding, the cap moved it by under
//      0.1 points, so it is gone).
//      A short queue that no choice fits in time gets the highest-throughput choice that fits
//      the head.
//   8. Accuracy floors (QueueView::head_floor, Servable): every step above considers only the
//      choices at least as accurate as the head's floor, and fills a batch only from the requests
//      the choice may serve; the batch passes over the others (TakeNextBatch), which wait, in EDF
//      order, for a batch accurate enough for them. So a burst still moves the requests without a
//      floor to fast sub-nets, while each floored request is served, whenever it reaches the head,
//      by the slowest choice its floor admits that fits its slack; a batch on an accurate sub-net
//      takes the floored requests first (EdfQueue::PopServable). Measured (bench/floor_eval, 30%
//      of the requests at a floor 1 point below the best sub-net): SLO attainment >= 99.97% up to
//      0.8x the mix's capacity, 99.89% at 0.9x (gamma cv2 = 4). Also making every choice that
//      passes a floor over leave that floor's most urgent request time to be served after it was
//      tried (before floor-first batches): 95.9% -> 70.9% of the floored requests at 0.7x, since
//      the accurate batches it forced filled with requests that had no floor.
// A batch is never taken to be slower than a larger one of its sub-net: a profile that says so
// has measured a noisy tail, and the slower batch would land in a slower bucket and win there.
// At light load the queue holds one request, so the slowest batch-1 choice that fits wins: the most
// accurate sub-net. As the queue grows, bigger batches of the same latency win, and those are
// the faster, less accurate sub-nets. Latency stays near the slack either way. Under bursts (step
// 6) and overload (step 7) it serves as the fastest sub-net's policies would.
//
// Choose is const. Thread-compatible (policy.h).
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
                 double drain_factor = kDefaultDrainFactor,
                 double sustain_margin = kDefaultSustainMargin, int workers = 1);

  // Share of the head's SLO in which a queue must be drainable by repeating the choice (step 5).
  static constexpr double kDefaultDrainFactor = 1.0;
  // Step 5 applies to queues at least this long. Shorter ones drain in a few batches of any
  // sub-net: on the evaluation profile, thresholds 1, 3 and 8 gave identical results.
  static constexpr int kMinDrainQueue = 8;
  // Step 6: a sub-net is used only while it can serve this many times the recent arrival rate.
  // Below 1: SlackFit mixes sub-nets, and one that carries half the load is of use. On the
  // evaluation profile (MMPP bursts at 0.2-0.8x the fastest sub-net's capacity, and gamma
  // cv2 = 4 at 0.6x), 1.0 cost 2 points of accuracy on gamma and 6 points of attainment at 0.6x
  // bursts against 0.5; 0 (no step 6) lost 2 points at 0.6x bursts.
  static constexpr double kDefaultSustainMargin = 0.5;

  std::string name() const override { return "slackfit"; }
  Decision Choose(absl::Time now, const QueueView& queue) const override;
  HopelessRule hopeless_rule() const override { return hopeless_; }

  struct Choice {
    int subnet_id;
    int batch;
    double p99_us;
    double accuracy;
    int subnet_index = 0;  // into the profile's sub-nets
    double mean_us = 0;    // MeanLatencyUs: for throughput (steps 5 and 6)
  };
  // Buckets in increasing latency; each sorted by batch (desc), then accuracy (desc). Empty
  // buckets are left out. Exposed for tests.
  const std::vector<std::vector<Choice>>& buckets() const { return buckets_; }

 private:
  // Whether repeating `c` serves `queue_size` requests within `horizon_us` while `rate` more
  // arrive per second.
  bool Drains(const Choice& c, int queue_size, double horizon_us, double rate) const;
  // Step 6: which sub-nets can keep up with `rate` requests/s under an SLO of `slo_us` (both at
  // the current latency scale), into sustainable_ (by sub-net index).
  void MarkSustainable(double rate, double slo_us) const;

  std::vector<std::vector<Choice>> buckets_;
  std::vector<double> bucket_min_us_;  // smallest p99 in each bucket
  std::vector<Choice> by_throughput_;  // every choice, by batch / (p99 + overhead), descending
  // Per sub-net (profile order): its profiled choices up to max_batch, for step 6.
  std::vector<std::vector<Choice>> subnet_batches_;
  double sustain_margin_ = 0;
  int workers_ = 1;
  mutable std::vector<char> sustainable_;  // scratch of Choose, by sub-net index
  double drain_factor_ = 0;
  HopelessRule hopeless_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_SLACKFIT_H_
