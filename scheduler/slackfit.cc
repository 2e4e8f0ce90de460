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
                               double drain_factor) {
  num_buckets = std::max(1, num_buckets);
  std::vector<Choice> all_choices;
  for (const SubnetLatency& subnet : profile.subnets) {
    for (const BatchLatency& b : subnet.batches) {
      if (max_batch > 0 && b.batch > max_batch) continue;
      all_choices.push_back({subnet.id, b.batch, b.p99_us, subnet.accuracy});
    }
  }
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
    const double ta = a.batch / (a.p99_us + profile.overhead_us);
    const double tb = b.batch / (b.p99_us + profile.overhead_us);
    if (ta != tb) return ta > tb;
    return a.accuracy > b.accuracy;
  });
  drain_factor_ = drain_factor;
  hopeless_ = FastestSubnetHopelessRule(profile, max_batch > 0 ? max_batch : profile.MaxBatch());
}

bool SlackFitPolicy::Drains(const Choice& c, int queue_size, double horizon_us) const {
  const int batches = (queue_size + c.batch - 1) / c.batch;
  return batches * (c.p99_us + absl::ToDoubleMicroseconds(hopeless_.overhead)) <= horizon_us;
}

Decision SlackFitPolicy::Choose(absl::Time now, const QueueView& queue) const {
  const double slack_us =
      absl::ToDoubleMicroseconds(queue.earliest_deadline - now - hopeless_.overhead);
  // Step 5: a queue of kMinDrainQueue or more must also be drained in time: repeating the choice
  // has to serve the whole queue within drain_factor_ x the head's SLO (deadline - arrival; the
  // youngest request has about that long left). Without it the slowest fitting bucket is a slow
  // sub-net at the largest batch (every sub-net ties at the largest batch once the queue fills
  // it), whose throughput is a fraction of the fastest's, and a backlog only grows.
  const bool long_queue = drain_factor_ > 0 && queue.size >= kMinDrainQueue;
  const double horizon_us =
      drain_factor_ * absl::ToDoubleMicroseconds(queue.earliest_deadline - queue.head_arrival);
  // Walk from the slowest bucket that has any choice fitting the slack towards faster ones. The
  // first bucket visited holds the slowest fitting choice (step 3); falling through to faster
  // buckets happens only when the queue is too short for every fitting batch in a bucket, or
  // (step 5) none of them drains it.
  for (size_t i = buckets_.size(); i-- > 0;) {
    if (bucket_min_us_[i] > slack_us) continue;
    for (const Choice& c : buckets_[i]) {
      if (c.batch <= queue.size && c.p99_us <= slack_us &&
          (!long_queue || Drains(c, queue.size, horizon_us))) {
        return Decision::Run(c.subnet_id, c.batch);
      }
    }
  }
  // Nothing drains the queue in time: serve it as fast as possible.
  for (const Choice& c : by_throughput_) {
    if (c.batch <= queue.size && c.p99_us <= slack_us) return Decision::Run(c.subnet_id, c.batch);
  }
  // Only reached when the head is hopeless (the caller's job) or no batch-1 choice exists.
  return Decision::Run(hopeless_.late_subnet_id, 1);
}

}  // namespace ternserve
