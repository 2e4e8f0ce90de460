// The status page's once-a-second samples. See status_sampler.h.
#include "server/status_sampler.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace ternserve {
namespace {

// A counter's increase; a counter never goes down, so a decrease (impossible) reads as none.
double Increase(double before, double after) { return std::max(0.0, after - before); }

// The histogram of what was observed between two snapshots of it (same buckets: they never
// change while the server runs).
HistogramValues Delta(const HistogramValues& before, const HistogramValues& after) {
  HistogramValues delta;
  delta.upper_bounds = after.upper_bounds;
  delta.sum = after.sum - before.sum;
  delta.count = Increase(before.count, after.count);
  for (size_t i = 0; i < after.cumulative_counts.size(); ++i) {
    const double previous = i < before.cumulative_counts.size() ? before.cumulative_counts[i] : 0;
    delta.cumulative_counts.push_back(Increase(previous, after.cumulative_counts[i]));
  }
  return delta;
}

std::optional<double> Mean(const HistogramValues& delta) {
  if (delta.count <= 0) return std::nullopt;
  return delta.sum / delta.count;
}

}  // namespace

std::optional<double> HistogramQuantile(double q, const std::vector<double>& upper_bounds,
                                        const std::vector<double>& cumulative_counts) {
  const size_t n = std::min(upper_bounds.size(), cumulative_counts.size());
  if (n == 0 || cumulative_counts[n - 1] <= 0) return std::nullopt;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * cumulative_counts[n - 1];
  // The first bucket whose cumulative count reaches the rank (Prometheus' bucketQuantile).
  size_t b = 0;
  while (b + 1 < n && cumulative_counts[b] < rank) ++b;
  if (std::isinf(upper_bounds[b])) {
    // In the +Inf bucket: the highest finite bound is all that is known.
    return b > 0 ? upper_bounds[b - 1] : 0.0;
  }
  const double start = b > 0 ? upper_bounds[b - 1] : 0.0;
  const double below = b > 0 ? cumulative_counts[b - 1] : 0.0;
  const double in_bucket = cumulative_counts[b] - below;
  if (in_bucket <= 0) return start;
  return start + (upper_bounds[b] - start) * ((rank - below) / in_bucket);
}

StatusPoint Difference(const MetricsSnapshot& before, absl::Time before_time,
                       const MetricsSnapshot& after, absl::Time after_time) {
  StatusPoint point;
  point.time = after_time;
  const double seconds = absl::ToDoubleSeconds(after_time - before_time);
  const double per_s = seconds > 0 ? 1.0 / seconds : 0.0;
  for (size_t code = 0; code < point.requests_per_s.size(); ++code) {
    point.requests_per_s[code] =
        Increase(before.requests_by_code[code], after.requests_by_code[code]) * per_s;
  }
  const auto slo = [&](SloOutcome outcome) {
    const size_t i = static_cast<size_t>(outcome);
    return Increase(before.slo_by_outcome[i], after.slo_by_outcome[i]);
  };
  const double met = slo(SloOutcome::kMet);
  const double judged = met + slo(SloOutcome::kMissed) + slo(SloOutcome::kDropped);
  if (judged > 0) point.slo_attainment = met / judged;

  const HistogramValues latency = Delta(before.request_seconds, after.request_seconds);
  point.p50_seconds = HistogramQuantile(0.5, latency.upper_bounds, latency.cumulative_counts);
  point.p99_seconds = HistogramQuantile(0.99, latency.upper_bounds, latency.cumulative_counts);
  point.queue_depth = after.queue_depth;
  for (const auto& [id, requests] : after.subnet_requests) {
    const auto it = before.subnet_requests.find(id);
    const double previous = it == before.subnet_requests.end() ? 0.0 : it->second;
    point.subnet_requests_per_s[id] = Increase(previous, requests) * per_s;
  }
  point.mean_batch_size = Mean(Delta(before.batch_size, after.batch_size));
  point.mean_served_accuracy = Mean(Delta(before.served_accuracy, after.served_accuracy));
  return point;
}

StatusSampler::StatusSampler(Source source, int capacity)
    : source_(std::move(source)), capacity_(static_cast<size_t>(std::max(1, capacity))) {}

StatusSampler::~StatusSampler() { Stop(); }

void StatusSampler::SampleNow(absl::Time now) {
  // The snapshot reads the metrics outside the lock: readers of the points never wait on it.
  MetricsSnapshot snapshot = source_();
  absl::MutexLock lock(&mu_);
  if (last_.has_value() && now > last_time_) {
    points_.push_back(Difference(*last_, last_time_, snapshot, now));
    while (points_.size() > capacity_) points_.pop_front();
  }
  last_ = std::move(snapshot);
  last_time_ = now;
}

void StatusSampler::Start(Clock* clock, absl::Duration period) {
  absl::MutexLock lock(&thread_mu_);
  if (thread_.joinable()) return;
  {
    absl::MutexLock stop_lock(&stop_mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this, clock, period] { Run(clock, period); });
}

void StatusSampler::Stop() {
  absl::MutexLock lock(&thread_mu_);
  if (!thread_.joinable()) return;
  {
    absl::MutexLock stop_lock(&stop_mu_);
    stopping_ = true;
  }
  thread_.join();
}

void StatusSampler::Run(Clock* clock, absl::Duration period) {
  absl::Time next = clock->Now();
  while (true) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (clock->AwaitWithDeadline(stop_mu_, absl::Condition(&stopping_), next)) return;
    }
    const absl::Time now = clock->Now();
    SampleNow(now);
    // Steps of `period` from the start, so samples do not drift; after a stall (a stopped
    // process), the next comes one period from now rather than in a catch-up rush.
    next += period;
    if (next <= now) next = now + period;
  }
}

std::vector<StatusPoint> StatusSampler::Points() const {
  absl::MutexLock lock(&mu_);
  return {points_.begin(), points_.end()};
}

std::optional<MetricsSnapshot> StatusSampler::Latest(absl::Time* time) const {
  absl::MutexLock lock(&mu_);
  if (time != nullptr) *time = last_time_;
  return last_;
}

}  // namespace ternserve
