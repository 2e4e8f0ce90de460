// SlackFit policy. See slackfit.h.
#include "scheduler/slackfit.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ternserve {
namespace {

// Whether another choice of the same batch is at least as fast and as accurate, and better in one.
// Such a choice is never worth running; left in, it lands in a slower bucket than the choice that
// dominates it and wins there (the bundle's d1.1.1-w16.32.64 is slower and less accurate than
// d1.1.1-w8.16.32).
bool IsDominated(const SlackFitPolicy::Choice& c, const std::vector<SlackFitPolicy::Choice>& all) {
  for (const SlackFitPolicy::Choice& d : all) {
    if (d.batch == c.batch && d.accuracy >= c.accuracy && d.p99_us <= c.p99_us &&
        (d.accuracy > c.accuracy || d.p99_us < c.p99_us)) {
      return true;
    }
  }
  return false;
}

}  // namespace

SlackFitPolicy::SlackFitPolicy(const LatencyProfile& profile, int num_buckets, int max_batch,
                               double drain_factor, double sustain_margin, int workers)
    : sustain_margin_(sustain_margin), workers_(std::max(1, workers)) {
  num_buckets = std::max(1, num_buckets);
  std::vector<Choice> all_choices;
  for (size_t i = 0; i < profile.subnets.size(); ++i) {
    const SubnetLatency& subnet = profile.subnets[i];
    subnet_batches_.emplace_back();
    for (const BatchLatency& b : subnet.batches) {
      if (max_batch > 0 && b.batch > max_batch) continue;
      subnet_batches_.back().push_back({subnet.id, b.batch, b.p99_us, subnet.accuracy,
                                        static_cast<int>(i), MeanLatencyUs(b.p50_us, b.p99_us)});
    }
    // A batch takes no longer than a larger one of the same sub-net: where the profile says it
    // does, its tail was noise (the bundle's d1.1.1-w8.16.32: p99 6.8 ms at batch 32, 6.0 ms at
    // 64). Left in, the slower batch lands in a slower bucket and wins there over the larger one.
    std::vector<Choice>& row = subnet_batches_.back();
    for (size_t k = row.size(); k-- > 1;) {
      row[k - 1].p99_us = std::min(row[k - 1].p99_us, row[k].p99_us);
      row[k - 1].mean_us = std::min(row[k - 1].mean_us, row[k].mean_us);
    }
    all_choices.insert(all_choices.end(), row.begin(), row.end());
  }
  sustainable_.assign(profile.subnets.size(), 1);
  std::vector<Choice> choices;
  double min_us = std::numeric_limits<double>::infinity();
  double max_us = 0;
  for (const Choice& c : all_choices) {
    if (IsDominated(c, all_choices)) continue;
    choices.push_back(c);
    min_us = std::min(min_us, c.p99_us);
    max_us = std::max(max_us, c.p99_us);
  }
  // Equal-width buckets; the last one is closed at max_us.
  const double width = (max_us - min_us) / num_buckets;
  std::vector<std::vector<Choice>> all(static_cast<size_t>(num_buckets));
  for (const Choice& c : choices) {
    int index = width > 0 ? static_cast<int>((c.p99_us - min_us) / width) : 0;
    index = std::clamp(index, 0, num_buckets - 1);
    all[static_cast<size_t>(index)].push_back(c);
  }
  for (std::vector<Choice>& bucket : all) {
    if (bucket.empty()) continue;
    std::sort(bucket.begin(), bucket.end(), [](const Choice& a, const Choice& b) {
      if (a.batch != b.batch) return a.batch > b.batch;
      if (a.accuracy != b.accuracy) return a.accuracy > b.accuracy;
      return a.p99_us < b.p99_us;
    });
    double bucket_min = bucket.front().p99_us;
    for (const Choice& c : bucket) bucket_min = std::min(bucket_min, c.p99_us);
    bucket_min_us_.push_back(bucket_min);
    buckets_.push_back(std::move(bucket));
  }
  by_throughput_ = choices;
  std::sort(by_throughput_.begin(), by_throughput_.end(), [&](const Choice& a, const Choice& b) {
    const double ta = a.batch / (a.mean_us + profile.overhead_us);
    const double tb = b.batch / (b.mean_us + profile.overhead_us);
    if (ta != tb) return ta > tb;
    return a.accuracy > b.accuracy;
  });
  drain_factor_ = drain_factor;
  hopeless_ = FastestSubnetHopelessRule(profile, max_batch > 0 ? max_batch : profile.MaxBatch());
  SetRunnableSubnets(profile);
}

void SlackFitPolicy::MarkSustainable(double rate, double slo_us) const {
  const double overhead_us = absl::ToDoubleMicroseconds(hopeless_.overhead);
  size_t best = 0;
  double best_capacity = -1;
  bool any = false;
  for (size_t i = 0; i < subnet_batches_.size(); ++i) {
    double capacity = 0;  // requests/s
    for (const Choice& c : subnet_batches_[i]) {
      if (c.p99_us + overhead_us <= slo_us) {
        capacity = std::max(capacity, 1e6 * workers_ * c.batch / (c.mean_us + overhead_us));
      }
    }
    sustainable_[i] = capacity >= sustain_margin_ * rate;
    any = any || sustainable_[i];
    if (capacity > best_capacity) {
      best_capacity = capacity;
      best = i;
    }
  }
  if (!any && !sustainable_.empty()) sustainable_[best] = 1;
}

bool SlackFitPolicy::Drains(const Choice& c, int queue_size, double horizon_us, double rate) const {
  const double batch_us = c.mean_us + absl::ToDoubleMicroseconds(hopeless_.overhead);
  if (rate <= 0) {
    const int batches = (queue_size + c.batch - 1) / c.batch;
    return batches * batch_us <= horizon_us;
  }
  // Requests keep arriving while the queue drains: it shrinks at the choice's service rate (all
  // workers repeating it) less the arrival rate.
  const double net_per_us = workers_ * c.batch / batch_us - rate * 1e-6;
  return net_per_us > 0 && queue_size / net_per_us <= horizon_us;
}

Decision SlackFitPolicy::Choose(absl::Time now, const QueueView& queue) const {
  // Every latency below is the profile's; the time left is divided by the latency scale instead
  // (policy.h), and so is the drain horizon.
  const double slack_us = ScaledSlackUs(now, queue.earliest_deadline, hopeless_.overhead);
  // Step 5: a queue of kMinDrainQueue or more must also be drained in time: repeating the choice
  // has to serve the whole queue within drain_factor_ x the head's SLO (deadline - arrival; the
  // youngest request has about that long left). Without it the slowest fitting bucket is a slow
  // sub-net at the largest batch (every sub-net ties at the largest batch once the queue fills
  // it), whose throughput is a fraction of the fastest's, and a backlog only grows.
  const bool long_queue = drain_factor_ > 0 && queue.size >= kMinDrainQueue;
  const double slo_us =
      absl::ToDoubleMicroseconds(queue.earliest_deadline - queue.head_arrival) / latency_scale();
  const double horizon_us = drain_factor_ * slo_us;
  // Step 6 (all sub-nets at a rate of 0, or with no margin).
  if (sustain_margin_ > 0 && queue.arrival_rate > 0) {
    MarkSustainable(queue.arrival_rate, slo_us);
  } else {
    std::fill(sustainable_.begin(), sustainable_.end(), 1);
  }
  // Walk from the slowest bucket that has any choice fitting the slack towards faster ones. The
  // first bucket visited holds the slowest fitting choice (step 3); falling through to faster
  // buckets happens only when the queue is too short for every fitting batch in a bucket, or
  // (step 5) none of them drains it.
  //
  // Accuracy floors: only choices at least as accurate as the head's floor are considered, and a
  // choice's batch must be filled from the requests it may serve (QueueView::Servable); the
  // requests it passes over wait for a more accurate batch. With no floors queued, both
  // conditions hold for every choice and Servable is the queue size.
  const auto meets_floor = [&queue](const Choice& c) { return c.accuracy >= queue.head_floor; };
  const auto fills = [&queue](const Choice& c) { return c.batch <= queue.Servable(c.accuracy); };
  for (size_t i = buckets_.size(); i-- > 0;) {
    if (bucket_min_us_[i] > slack_us) continue;
    for (const Choice& c : buckets_[i]) {
      if (c.p99_us <= slack_us && sustainable_[c.subnet_index] && meets_floor(c) && fills(c) &&
          (!long_queue || Drains(c, queue.size, horizon_us, queue.arrival_rate))) {
        return Decision::Run(c.subnet_id, c.batch);
      }
    }
  }
  // Nothing drains the queue in time (step 7): the backlog outgrows every choice. Run the
  // highest-throughput sustainable choice, whether the head fits or not, and shed the requests it
  // would finish after their deadline (its p99 and overhead from now, scaled as every latency is):
  // they would miss anyway, and their places
  // in the batch go to requests it can still serve in time.
  // Only a choice that can finish within the SLO at all: one slower than that would shed every
  // request it could take. (Without floors the fastest sub-net's choices always qualify; with a
  // head floor, the fastest sub-net meeting it at its largest batch may not.)
  if (long_queue) {
    const double overhead_us = absl::ToDoubleMicroseconds(hopeless_.overhead);
    for (const bool within_slo : {true, false}) {
      for (const Choice& c : by_throughput_) {
        if (!sustainable_[c.subnet_index] || !meets_floor(c)) continue;
        if (within_slo && c.p99_us + overhead_us > slo_us) continue;
        Decision run = Decision::Run(c.subnet_id, std::min(queue.Servable(c.accuracy), c.batch));
        run.shed_before =
            now + (hopeless_.overhead + absl::Microseconds(c.p99_us)) * latency_scale();
        return run;
      }
    }
  }
  // A short queue that no choice serves in time at the head's slack: the fastest that fits it.
  for (const Choice& c : by_throughput_) {
    if (c.p99_us <= slack_us && sustainable_[c.subnet_index] && meets_floor(c) && fills(c)) {
      return Decision::Run(c.subnet_id, c.batch);
    }
  }
  for (const Choice& c : by_throughput_) {  // a head only an unsustainable sub-net can finish
    if (c.p99_us <= slack_us && meets_floor(c) && fills(c)) {
      return Decision::Run(c.subnet_id, c.batch);
    }
  }
  // Only reached when the head is hopeless for its floor (the caller's job) or no batch-1 choice
  // exists: the fastest sub-net that meets the head's floor.
  const FloorTier* tier = TierFor(queue.head_floor);
  return Decision::Run(tier != nullptr ? tier->fastest_id : hopeless_.late_subnet_id, 1);
}

}  // namespace ternserve
