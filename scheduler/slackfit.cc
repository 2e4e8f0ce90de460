// SlackFit policy. See slackfit.h.
#include "scheduler/slackfit.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ternserve {

SlackFitPolicy::SlackFitPolicy(const LatencyProfile& profile, int num_buckets, int max_batch) {
  num_buckets = std::max(1, num_buckets);
  std::vector<Choice> choices;
  double min_us = std::numeric_limits<double>::infinity();
  double max_us = 0;
  for (const SubnetLatency& subnet : profile.subnets) {
    for (const BatchLatency& b : subnet.batches) {
      if (max_batch > 0 && b.batch > max_batch) continue;
      choices.push_back({subnet.id, b.batch, b.p99_us, subnet.accuracy});
      min_us = std::min(min_us, b.p99_us);
      max_us = std::max(max_us, b.p99_us);
    }
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
  const int fastest = profile.FastestIndex();
  hopeless_.overhead = absl::Microseconds(profile.overhead_us);
  if (fastest >= 0) {
    const SubnetLatency& subnet = profile.subnets[static_cast<size_t>(fastest)];
    hopeless_.min_latency = absl::Microseconds(P99Us(subnet, 1));
    hopeless_.late_subnet_id = subnet.id;
    hopeless_.late_max_batch = max_batch > 0 ? max_batch : profile.MaxBatch();
  }
}

Decision SlackFitPolicy::Choose(absl::Time now, const QueueView& queue) const {
  const double slack_us =
      absl::ToDoubleMicroseconds(queue.earliest_deadline - now - hopeless_.overhead);
  // Walk from the slowest bucket that has any choice fitting the slack towards faster ones. The
  // first bucket visited holds the slowest fitting choice (step 3); falling through to faster
  // buckets happens only when the queue is too short for every fitting batch in a bucket.
  for (size_t i = buckets_.size(); i-- > 0;) {
    if (bucket_min_us_[i] > slack_us) continue;
    for (const Choice& c : buckets_[i]) {
      if (c.batch <= queue.size && c.p99_us <= slack_us) return Decision::Run(c.subnet_id, c.batch);
    }
  }
  // Only reached when the head is hopeless (the caller's job) or no batch-1 choice exists.
  return Decision::Run(hopeless_.late_subnet_id, 1);
}

}  // namespace ternserve
