// Tests for server/status_sampler.cc: the histogram quantile (a table of cases, against what
// Prometheus' histogram_quantile gives), the difference of two snapshots, the ring of points driven
// by SampleNow on chosen times, the sampling thread on a FakeClock, and that a snapshot of
// ServerMetrics reads exactly what its registry exposes.
#include "server/status_sampler.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_clock.h"

namespace ternserve {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

struct QuantileCase {
  const char* name;
  double q;
  std::vector<double> bounds;
  std::vector<double> cumulative;
  std::optional<double> expected;
};

TEST(HistogramQuantileTest, InterpolatesAsPrometheusDoes) {
  const std::vector<double> bounds = {1, 2, 4, kInf};
  const std::vector<QuantileCase> cases = {
      {"empty", 0.5, bounds, {0, 0, 0, 0}, std::nullopt},
      {"no buckets", 0.5, {}, {}, std::nullopt},
      // 10 observations, all in (1, 2]: the median is halfway through that bucket.
      {"one bucket", 0.5, bounds, {0, 10, 10, 10}, 1.5},
      // In the first bucket, which starts at 0.
      {"first bucket", 0.5, bounds, {10, 10, 10, 10}, 0.5},
      // rank 0.99 * 100 = 99: 9 of the 10 in (2, 4] -> 2 + 2 * 9/10.
      {"p99", 0.99, bounds, {50, 90, 100, 100}, 3.8},
      // Past the last finite bound: that bound is all that is known.
      {"in +Inf", 0.99, bounds, {0, 0, 1, 100}, 4.0},
      {"q = 1", 1.0, bounds, {5, 10, 10, 10}, 2.0},
      {"q = 0", 0.0, bounds, {5, 10, 10, 10}, 0.0},
      // A rank that falls on a bucket's upper edge is that bound.
      {"edge", 0.5, bounds, {5, 10, 10, 10}, 1.0},
  };
  for (const QuantileCase& c : cases) {
    const std::optional<double> got = HistogramQuantile(c.q, c.bounds, c.cumulative);
    ASSERT_EQ(got.has_value(), c.expected.has_value()) << c.name;
    if (got.has_value()) {
      EXPECT_NEAR(*got, *c.expected, 1e-12) << c.name;
    }
  }
}

MetricsSnapshot EmptySnapshot() {
  MetricsSnapshot snapshot;
  for (HistogramValues* h :
       {&snapshot.request_seconds, &snapshot.batch_size, &snapshot.served_accuracy}) {
    h->upper_bounds = {0.001, 0.01, 0.1, kInf};
    h->cumulative_counts = {0, 0, 0, 0};
  }
  return snapshot;
}

void Observe(HistogramValues& h, double value, int times = 1) {
  for (size_t i = 0; i < h.upper_bounds.size(); ++i) {
    if (value <= h.upper_bounds[i]) h.cumulative_counts[i] += times;
  }
  h.sum += value * times;
  h.count += times;
}

size_t Code(absl::StatusCode code) { return static_cast<size_t>(code); }
size_t Outcome(SloOutcome outcome) { return static_cast<size_t>(outcome); }

TEST(DifferenceTest, RatesQuantilesMixAndMeansOverTheInterval) {
  MetricsSnapshot before = EmptySnapshot();
  before.requests_by_code[Code(absl::StatusCode::kOk)] = 100;  // history: not in the interval
  before.subnet_requests[3] = 100;
  Observe(before.request_seconds, 0.05, 100);
  MetricsSnapshot after = before;
  // Over 2 s: 40 OK, 10 DEADLINE_EXCEEDED; 30 met, 10 missed, 10 dropped; 30 on sub-net 0 and 10
  // on sub-net 3; 4 batches of 10; latencies: 20 in (1, 10] ms, 20 in (10, 100] ms.
  after.requests_by_code[Code(absl::StatusCode::kOk)] += 40;
  after.requests_by_code[Code(absl::StatusCode::kDeadlineExceeded)] += 10;
  after.slo_by_outcome[Outcome(SloOutcome::kMet)] = 30;
  after.slo_by_outcome[Outcome(SloOutcome::kMissed)] = 10;
  after.slo_by_outcome[Outcome(SloOutcome::kDropped)] = 10;
  after.slo_by_outcome[Outcome(SloOutcome::kCancelled)] = 50;  // not counted against the server
  after.subnet_requests[0] = 30;
  after.subnet_requests[3] += 10;
  Observe(after.batch_size, 10, 4);
  Observe(after.served_accuracy, 0.9, 30);
  Observe(after.served_accuracy, 0.8, 10);
  Observe(after.request_seconds, 0.005, 20);
  Observe(after.request_seconds, 0.05, 20);
  after.queue_depth = 7;

  const StatusPoint point = Difference(before, kT0, after, kT0 + absl::Seconds(2));
  EXPECT_EQ(point.time, kT0 + absl::Seconds(2));
  EXPECT_DOUBLE_EQ(point.requests_per_s[Code(absl::StatusCode::kOk)], 20);
  EXPECT_DOUBLE_EQ(point.requests_per_s[Code(absl::StatusCode::kDeadlineExceeded)], 5);
  EXPECT_DOUBLE_EQ(point.requests_per_s[Code(absl::StatusCode::kInternal)], 0);
  ASSERT_TRUE(point.slo_attainment.has_value());
  EXPECT_DOUBLE_EQ(*point.slo_attainment, 30.0 / 50.0);
  // The interval's own 40 latencies, not the 100 before it: the median is the top of (1, 10] ms,
  // p99 is 98% of the way through (10, 100] ms.
  ASSERT_TRUE(point.p50_seconds.has_value());
  EXPECT_NEAR(*point.p50_seconds, 0.01, 1e-12);
  ASSERT_TRUE(point.p99_seconds.has_value());
  EXPECT_NEAR(*point.p99_seconds, 0.01 + 0.09 * (39.6 - 20) / 20, 1e-12);
  EXPECT_THAT(point.subnet_requests_per_s,
              ::testing::UnorderedElementsAre(::testing::Pair(0, 15.0), ::testing::Pair(3, 5.0)));
  ASSERT_TRUE(point.mean_batch_size.has_value());
  EXPECT_DOUBLE_EQ(*point.mean_batch_size, 10);
  ASSERT_TRUE(point.mean_served_accuracy.has_value());
  EXPECT_NEAR(*point.mean_served_accuracy, (30 * 0.9 + 10 * 0.8) / 40, 1e-12);
  EXPECT_EQ(point.queue_depth, 7);
}

TEST(DifferenceTest, AnIdleIntervalHasNoQuantilesMeansOrAttainment) {
  const MetricsSnapshot snapshot = EmptySnapshot();
  const StatusPoint point = Difference(snapshot, kT0, snapshot, kT0 + absl::Seconds(1));
  EXPECT_FALSE(point.slo_attainment.has_value());
  EXPECT_FALSE(point.p50_seconds.has_value());
  EXPECT_FALSE(point.p99_seconds.has_value());
  EXPECT_FALSE(point.mean_batch_size.has_value());
  EXPECT_FALSE(point.mean_served_accuracy.has_value());
  for (double rate : point.requests_per_s) EXPECT_EQ(rate, 0);
}

// A source whose values the test sets.
class FakeSource {
 public:
  StatusSampler::Source AsSource() {
    return [this] {
      absl::MutexLock lock(&mu_);
      return snapshot_;
    };
  }
  void AddOk(double n) {
    absl::MutexLock lock(&mu_);
    snapshot_.requests_by_code[Code(absl::StatusCode::kOk)] += n;
  }

 private:
  absl::Mutex mu_;
  MetricsSnapshot snapshot_ ABSL_GUARDED_BY(mu_) = EmptySnapshot();
};

TEST(StatusSamplerTest, KeepsTheLastCapacityPointsOldestFirst) {
  FakeSource source;
  StatusSampler sampler(source.AsSource(), /*capacity=*/3);
  EXPECT_FALSE(sampler.Latest().has_value());
  sampler.SampleNow(kT0);  // the baseline: no point yet
  EXPECT_TRUE(sampler.Points().empty());
  for (int s = 1; s <= 5; ++s) {
    source.AddOk(s);  // s requests in second s
    sampler.SampleNow(kT0 + absl::Seconds(s));
  }
  const std::vector<StatusPoint> points = sampler.Points();
  ASSERT_EQ(points.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(points[i].time, kT0 + absl::Seconds(3 + i));
    EXPECT_DOUBLE_EQ(points[i].requests_per_s[Code(absl::StatusCode::kOk)], 3 + i);
  }
  absl::Time latest_time;
  const std::optional<MetricsSnapshot> latest = sampler.Latest(&latest_time);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest_time, kT0 + absl::Seconds(5));
  EXPECT_EQ(latest->requests_by_code[Code(absl::StatusCode::kOk)], 15);
}

TEST(StatusSamplerTest, ASampleNotLaterThanTheLastOnlyMovesTheBaseline) {
  FakeSource source;
  StatusSampler sampler(source.AsSource());
  sampler.SampleNow(kT0);
  source.AddOk(10);
  sampler.SampleNow(kT0);  // no time passed: no rate can be computed
  EXPECT_TRUE(sampler.Points().empty());
  source.AddOk(4);
  sampler.SampleNow(kT0 + absl::Seconds(2));
  ASSERT_EQ(sampler.Points().size(), 1u);
  EXPECT_DOUBLE_EQ(sampler.Points()[0].requests_per_s[Code(absl::StatusCode::kOk)], 2);
}

TEST(StatusSamplerTest, ThreadSamplesEachPeriodOfItsClockAndStops) {
  FakeClock clock(kT0);
  FakeSource source;
  StatusSampler sampler(source.AsSource());
  sampler.Start(&clock, absl::Seconds(1));
  // The first sample is taken at once, then the thread waits for kT0 + 1 s.
  clock.WaitForWaits(2);
  EXPECT_TRUE(sampler.Points().empty());
  source.AddOk(7);
  clock.Advance(absl::Seconds(1));
  clock.WaitForWaits(3);  // it sampled, and waits for the next second
  ASSERT_EQ(sampler.Points().size(), 1u);
  EXPECT_EQ(sampler.Points()[0].time, kT0 + absl::Seconds(1));
  EXPECT_DOUBLE_EQ(sampler.Points()[0].requests_per_s[Code(absl::StatusCode::kOk)], 7);
  // Stop returns without the clock moving: it wakes the waiting thread.
  sampler.Stop();
  sampler.Stop();
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(sampler.Points().size(), 1u);
}

BundleMetadata TwoSubnets() {
  BundleMetadata metadata;
  for (const auto& [id, accuracy] : {std::pair{0, 0.8}, std::pair{3, 0.9}}) {
    SubnetMeta subnet;
    subnet.id = id;
    subnet.test_accuracy = accuracy;
    metadata.subnets.push_back(subnet);
  }
  return metadata;
}

// The value of the sample line `series` in a scrape, NaN without one.
double Sample(const std::string& scrape, const std::string& series) {
  std::istringstream lines(scrape);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StartsWith(line, series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return std::numeric_limits<double>::quiet_NaN();
}

// The snapshot reads the very objects /metrics serializes: the same numbers.
TEST(ServerMetricsSnapshotTest, AgreesWithTheScrape) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, TwoSubnets(), BuildInfo{"v", "slackfit", "ternary", "avx2"});
  for (int i = 0; i < 5; ++i) metrics.OnReceived();
  metrics.OnInvalid(absl::StatusCode::kInvalidArgument);
  metrics.OnNotQueued(absl::StatusCode::kResourceExhausted);
  metrics.OnBatchDone(3, 3, absl::Milliseconds(2));
  for (int i = 0; i < 3; ++i) {
    CompletedRequest request;
    request.ran = true;
    request.deadline_met = i < 2;
    request.subnet_id = 3;
    request.request_time = absl::Milliseconds(1 + i);
    metrics.OnCompleted(request);
  }
  metrics.OnQueueDepth(4);

  const MetricsSnapshot snapshot = metrics.Snapshot();
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  const std::string scrape = out.str();
  EXPECT_EQ(snapshot.requests_by_code[Code(absl::StatusCode::kOk)],
            Sample(scrape, "ternserve_requests_total{code=\"OK\"}"));
  EXPECT_EQ(snapshot.requests_by_code[Code(absl::StatusCode::kOk)], 3);
  EXPECT_EQ(snapshot.requests_by_code[Code(absl::StatusCode::kResourceExhausted)], 1);
  EXPECT_EQ(snapshot.requests_by_code[Code(absl::StatusCode::kInvalidArgument)], 1);
  EXPECT_EQ(snapshot.slo_by_outcome[Outcome(SloOutcome::kMet)],
            Sample(scrape, "ternserve_slo_total{outcome=\"met\"}"));
  EXPECT_EQ(snapshot.slo_by_outcome[Outcome(SloOutcome::kMissed)], 1);
  EXPECT_EQ(snapshot.slo_by_outcome[Outcome(SloOutcome::kDropped)], 1);
  EXPECT_THAT(snapshot.subnet_requests,
              ::testing::UnorderedElementsAre(::testing::Pair(0, 0.0), ::testing::Pair(3, 3.0)));
  EXPECT_EQ(snapshot.request_seconds.count,
            Sample(scrape, "ternserve_request_duration_seconds_count"));
  EXPECT_EQ(snapshot.request_seconds.count, 3);
  EXPECT_EQ(snapshot.request_seconds.upper_bounds.size(), LatencyBucketsSeconds().size() + 1);
  EXPECT_TRUE(std::isinf(snapshot.request_seconds.upper_bounds.back()));
  EXPECT_EQ(snapshot.request_seconds.cumulative_counts.back(), 3);
  EXPECT_EQ(snapshot.batch_size.count, 1);
  EXPECT_EQ(snapshot.batch_size.sum, 3);
  EXPECT_NEAR(snapshot.served_accuracy.sum, 3 * 0.9, 1e-12);
  EXPECT_EQ(snapshot.queue_depth, Sample(scrape, "ternserve_queue_depth"));
  EXPECT_EQ(snapshot.queue_depth, 4);
}

}  // namespace
}  // namespace ternserve
