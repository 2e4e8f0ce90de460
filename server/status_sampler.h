// StatusSampler: the last few minutes of the server's metrics, one point a second, for the status
// page (GET /status.json, server/status_json.h).
//
// Each point is the difference of two MetricsSnapshots (server/metrics.h) taken from the same
// prometheus-cpp objects /metrics serializes, over the time between them: request rates by answer
// code, SLO attainment, p50/p99 latency (interpolated within the request-duration histogram's
// buckets, as Prometheus' histogram_quantile does), the sub-net mix, the mean batch size and the
// mean served accuracy; and the queue depth as sampled. So a chart and `rate(...[1s])` over a
// scrape cannot disagree.
//
// Time is injected: SampleNow(t) takes one sample at t (tests drive it); Start(clock) runs a
// thread of its own that samples every `period` of that clock until Stop() or destruction.
// Thread-safe: SampleNow, Points and Latest may be called from any thread.
#ifndef TERNSERVE_SERVER_STATUS_SAMPLER_H_
#define TERNSERVE_SERVER_STATUS_SAMPLER_H_

#include <array>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/clock.h"
#include "server/metrics.h"

namespace ternserve {

// The q-quantile (0 <= q <= 1) of a histogram's observations, given its cumulative counts per
// upper bound (the last bound may be +Inf), interpolated linearly within the bucket it falls in,
// as Prometheus' histogram_quantile: the first bucket starts at 0, and a quantile in the +Inf
// bucket is the last finite bound. nullopt when the histogram is empty.
std::optional<double> HistogramQuantile(double q, const std::vector<double>& upper_bounds,
                                        const std::vector<double>& cumulative_counts);

// What the server did between two samples. Rates are per second of that interval; a value that
// needs at least one event in the interval is nullopt without one.
struct StatusPoint {
  absl::Time time;                                               // when the interval ended
  std::array<double, MetricsSnapshot::kCodes> requests_per_s{};  // by answer code
  // met / (met + missed + dropped), as in docs/architecture.md "Metrics".
  std::optional<double> slo_attainment;
  std::optional<double> p50_seconds;
  std::optional<double> p99_seconds;
  double queue_depth = 0;                       // at the end of the interval
  std::map<int, double> subnet_requests_per_s;  // by sub-net id
  std::optional<double> mean_batch_size;        // requests per batch run
  std::optional<double> mean_served_accuracy;   // of the OK answers
};

// The point for the interval from `before` (at `before_time`) to `after` (at `after_time`).
// Counters that went down (none do; a defensive reading) count as 0.
StatusPoint Difference(const MetricsSnapshot& before, absl::Time before_time,
                       const MetricsSnapshot& after, absl::Time after_time);

class StatusSampler {
 public:
  using Source = std::function<MetricsSnapshot()>;
  static constexpr int kDefaultCapacity = 300;  // 5 minutes at one sample a second

  // `source` is called once per sample, on the sampling thread; it must be thread-safe.
  explicit StatusSampler(Source source, int capacity = kDefaultCapacity);
  ~StatusSampler();  // Stop()

  StatusSampler(const StatusSampler&) = delete;
  StatusSampler& operator=(const StatusSampler&) = delete;

  // Takes a snapshot at `now`. Every sample after the first adds a point (the oldest drops out
  // beyond the capacity); one not later than the previous sample only replaces the baseline.
  void SampleNow(absl::Time now);

  // Samples every `period` of `clock` (which must outlive the sampler) on a thread of its own,
  // the first at once. A second Start while running does nothing.
  void Start(Clock* clock, absl::Duration period = absl::Seconds(1));
  // Stops and joins the sampling thread, if any; it returns as soon as a wait or a sample in
  // progress ends. Idempotent.
  void Stop();

  // The points, oldest first.
  std::vector<StatusPoint> Points() const;
  // The last snapshot taken (the totals), and when; nullopt before the first.
  std::optional<MetricsSnapshot> Latest(absl::Time* time = nullptr) const;

 private:
  void Run(Clock* clock, absl::Duration period);

  // Constant after construction.
  const Source source_;
  const size_t capacity_;

  mutable absl::Mutex mu_;
  std::deque<StatusPoint> points_ ABSL_GUARDED_BY(mu_);
  std::optional<MetricsSnapshot> last_ ABSL_GUARDED_BY(mu_);
  absl::Time last_time_ ABSL_GUARDED_BY(mu_);

  // The sampling thread: started and joined under thread_mu_; stopping_ is read by it under
  // stop_mu_ (its wait's mutex), so Stop wakes it at once.
  absl::Mutex thread_mu_;
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_STATUS_SAMPLER_H_
