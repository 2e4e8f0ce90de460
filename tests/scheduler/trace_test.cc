// Tests for scheduler/trace.cc: spec parsing and its errors, arrival processes (rate, burstiness,
// determinism), and trace files.
#include "scheduler/trace.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

std::vector<double> ArrivalSeconds(const std::string& spec_text, uint64_t seed) {
  absl::StatusOr<TraceSpec> spec = ParseTraceSpec(spec_text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<std::unique_ptr<ArrivalSource>> source = OpenTrace(*spec, seed);
  EXPECT_TRUE(source.ok()) << source.status();
  std::vector<double> times;
  Arrival a;
  while ((*source)->Next(&a)) times.push_back(absl::ToDoubleSeconds(a.time));
  return times;
}

// Arrivals per window of `window_s` over the whole trace, without keeping the arrivals (a long
// trace has millions).
std::vector<int64_t> WindowCounts(const std::string& spec_text, uint64_t seed, double window_s) {
  absl::StatusOr<TraceSpec> spec = ParseTraceSpec(spec_text);
  EXPECT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<std::unique_ptr<ArrivalSource>> source = OpenTrace(*spec, seed);
  EXPECT_TRUE(source.ok()) << source.status();
  std::vector<int64_t> counts(static_cast<size_t>(std::ceil(spec->duration_s / window_s)), 0);
  Arrival a;
  while ((*source)->Next(&a)) {
    ++counts[static_cast<size_t>(absl::ToDoubleSeconds(a.time) / window_s)];
  }
  return counts;
}

double FractionAbove(const std::vector<int64_t>& counts, double threshold) {
  const auto above = std::count_if(counts.begin(), counts.end(),
                                   [threshold](int64_t count) { return count > threshold; });
  return static_cast<double>(above) / static_cast<double>(counts.size());
}

// Squared coefficient of variation of the inter-arrival gaps.
double GapCv2(const std::vector<double>& times) {
  double sum = 0, sum_sq = 0;
  for (size_t i = 1; i < times.size(); ++i) {
    const double gap = times[i] - times[i - 1];
    sum += gap;
    sum_sq += gap * gap;
  }
  const double n = static_cast<double>(times.size() - 1);
  const double mean = sum / n;
  return (sum_sq / n - mean * mean) / (mean * mean);
}

TEST(TraceSpecTest, ParsesEveryKind) {
  absl::StatusOr<TraceSpec> spec = ParseTraceSpec("gamma:rate=200,cv2=4,duration=2.5");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, TraceSpec::Kind::kGamma);
  EXPECT_EQ(spec->rate, 200);
  EXPECT_EQ(spec->cv2, 4);
  EXPECT_EQ(spec->duration_s, 2.5);
  spec = ParseTraceSpec("ramp:from=10,to=0,duration=1");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->from, 10);
  spec = ParseTraceSpec("mmpp:calm=100,burst=1000,calm_s=1,burst_s=0.2,duration=60");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, TraceSpec::Kind::kMmpp);
  EXPECT_EQ(spec->calm, 100);
  EXPECT_EQ(spec->burst, 1000);
  EXPECT_EQ(spec->calm_s, 1);
  EXPECT_EQ(spec->burst_s, 0.2);
  EXPECT_EQ(spec->duration_s, 60);
  // A silent calm state is allowed.
  EXPECT_TRUE(ParseTraceSpec("mmpp:calm=0,burst=10,calm_s=1,burst_s=1,duration=1").ok());
  spec = ParseTraceSpec("file:/tmp/some trace.txt");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->path, "/tmp/some trace.txt");
}

struct BadSpec {
  std::string spec;
  std::string message;
};

class BadTraceSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadTraceSpecTest, IsRefusedWithReason) {
  absl::StatusOr<TraceSpec> spec = ParseTraceSpec(GetParam().spec);
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(spec.status().message(), HasSubstr(GetParam().message));
  EXPECT_THAT(spec.status().message(), HasSubstr(GetParam().spec));
}

INSTANTIATE_TEST_SUITE_P(
    Specs, BadTraceSpecTest,
    ::testing::Values(BadSpec{"poisson", "missing ':'"},
                      BadSpec{"uniform:rate=1,duration=1", "unknown kind 'uniform'"},
                      BadSpec{"poisson:rate=1", "missing duration="},
                      BadSpec{"poisson:rate=abc,duration=1", "rate='abc' is not a number"},
                      BadSpec{"poisson:rate=0,duration=1", "rate must be > 0"},
                      BadSpec{"poisson:rate=5,duration=-1", "duration must be > 0"},
                      BadSpec{"poisson:rate=5,duration=1,cv2=3", "unknown parameter 'cv2'"},
                      BadSpec{"poisson:rate=5,rate=6,duration=1", "rate given twice"},
                      BadSpec{"gamma:rate=5,cv2=0,duration=1", "cv2 must be in (0, 1000]"},
                      // Found by trace_fuzz: every gap underflowed to 0, the trace never ended.
                      BadSpec{"gamma:rate=100,cv2=1e85,duration=2", "cv2 must be in (0, 1000]"},
                      BadSpec{"ramp:from=0,to=0,duration=1", "not both 0"},
                      // Found by trace_fuzz: arrival times past int64 nanoseconds (UBSan).
                      BadSpec{"poisson:rate=1e-12,duration=1e300",
                              "duration must be at most 1e9 s"},
                      BadSpec{"poisson:rate=inf,duration=1", "is not a number"},
                      BadSpec{"file:", "missing file path"},
                      BadSpec{"mmpp:calm=1,burst=10,calm_s=1,duration=1", "missing burst_s="},
                      BadSpec{"mmpp:calm=-1,burst=10,calm_s=1,burst_s=1,duration=1",
                              "calm and burst must be >= 0 and not both 0"},
                      BadSpec{"mmpp:calm=0,burst=0,calm_s=1,burst_s=1,duration=1",
                              "calm and burst must be >= 0 and not both 0"},
                      BadSpec{"mmpp:calm=1,burst=10,calm_s=0,burst_s=1,duration=1",
                              "calm_s and burst_s must be > 0"},
                      BadSpec{"mmpp:calm=1,burst=10,calm_s=1,burst_s=2e9,duration=1",
                              "calm_s and burst_s must be at most 1e9 s"},
                      BadSpec{"mmpp:calm=1,burst=10,calm_s=1,burst_s=1,rate=5,duration=1",
                              "unknown parameter 'rate' for mmpp"}));

TEST(TraceTest, PoissonHasItsRateAndIsDeterministicForASeed) {
  const std::vector<double> a = ArrivalSeconds("poisson:rate=1000,duration=20", 7);
  EXPECT_NEAR(static_cast<double>(a.size()), 20000, 600);  // ~4 sigma
  EXPECT_NEAR(GapCv2(a), 1.0, 0.1);
  EXPECT_EQ(a, ArrivalSeconds("poisson:rate=1000,duration=20", 7));
  EXPECT_NE(a, ArrivalSeconds("poisson:rate=1000,duration=20", 8));
  for (size_t i = 1; i < a.size(); ++i) ASSERT_LE(a[i - 1], a[i]);
  EXPECT_LT(a.back(), 20.0);
}

TEST(TraceTest, GammaHasItsRateAndBurstiness) {
  const std::vector<double> a = ArrivalSeconds("gamma:rate=1000,cv2=4,duration=50", 3);
  EXPECT_NEAR(static_cast<double>(a.size()), 50000, 2500);
  EXPECT_NEAR(GapCv2(a), 4.0, 0.6);
}

TEST(TraceTest, RampMovesTheRate) {
  const std::vector<double> a = ArrivalSeconds("ramp:from=0,to=2000,duration=10", 5);
  // Expected count: mean rate 1000/s over 10 s; the first half carries a quarter of it.
  EXPECT_NEAR(static_cast<double>(a.size()), 10000, 400);
  const auto first_half = std::count_if(a.begin(), a.end(), [](double t) { return t < 5; });
  EXPECT_NEAR(static_cast<double>(first_half), 2500, 200);
}

TEST(TraceTest, MmppIsDeterministicForASeed) {
  const std::string spec = "mmpp:calm=100,burst=1000,calm_s=1,burst_s=0.2,duration=20";
  const std::vector<double> a = ArrivalSeconds(spec, 7);
  ASSERT_FALSE(a.empty());
  EXPECT_EQ(a, ArrivalSeconds(spec, 7));
  EXPECT_NE(a, ArrivalSeconds(spec, 8));
  for (size_t i = 1; i < a.size(); ++i) ASSERT_LE(a[i - 1], a[i]);
  EXPECT_LT(a.back(), 20.0);
}

TEST(TraceTest, MmppHasItsMeanRate) {
  // Mean rate (100 * 1 + 1000 * 0.2) / 1.2 = 250/s. The count's variance is dominated by the
  // switching, 2 (R2 - R1)^2 q1 q2 / (q1 + q2)^3 = 37500 per s (q = 1 / mean visit), so over
  // 20000 s its standard deviation is 0.55%: 3% is 5.5 sigma (over 2000 s it would be 1.7).
  const std::string spec_text = "mmpp:calm=100,burst=1000,calm_s=1,burst_s=0.2,duration=20000";
  const double mean_rate = TraceMeanRate(*ParseTraceSpec(spec_text));
  ASSERT_DOUBLE_EQ(mean_rate, 250);
  const std::vector<int64_t> counts = WindowCounts(spec_text, 11, 1.0);
  int64_t total = 0;
  for (int64_t count : counts) total += count;
  EXPECT_NEAR(static_cast<double>(total) / 20000, mean_rate, 0.03 * mean_rate);
}

TEST(TraceTest, MmppHasBurstsThatPoissonAtItsMeanRateHasNot) {
  // 100 ms windows with more than 3x the calm state's 10 expected arrivals. Bursts fill about a
  // sixth of the time with ~100 per window; Poisson at the mean rate (25 per window) passes 30 in
  // about 14% of the windows, MMPP in about 20%. Over 20000 windows the difference of two Poisson
  // fractions varies by ~0.35% and the MMPP one (about 1700 bursts) by ~0.6%: a 3% margin is ~8
  // sigma for a trace without bursts and ~5 sigma below what MMPP gives (40 seeds: 5.2% to 8%).
  const std::vector<int64_t> mmpp =
      WindowCounts("mmpp:calm=100,burst=1000,calm_s=1,burst_s=0.2,duration=2000", 3, 0.1);
  const std::vector<int64_t> poisson = WindowCounts("poisson:rate=250,duration=2000", 3, 0.1);
  const double mmpp_fraction = FractionAbove(mmpp, 30);
  const double poisson_fraction = FractionAbove(poisson, 30);
  EXPECT_GT(mmpp_fraction, poisson_fraction + 0.03)
      << "mmpp " << mmpp_fraction << ", poisson " << poisson_fraction;
}

TEST(TraceTest, MmppWithASilentCalmStateHasQuietSpells) {
  // calm=0: no arrivals at all while calm (half the time, in visits of mean 1 s), so many 100 ms
  // windows are empty; Poisson at the mean rate of 500/s leaves none empty (e^-50 each).
  const std::vector<int64_t> counts =
      WindowCounts("mmpp:calm=0,burst=1000,calm_s=1,burst_s=1,duration=2000", 5, 0.1);
  const double empty = 1 - FractionAbove(counts, 0);
  // The windows a calm visit (length L) covers whole: E[(L - 0.1 s)+] / (calm_s + burst_s) =
  // 0.5 e^-0.1 = 0.45 of them; over 1000 cycles that varies by ~0.011 (40 seeds: 0.43 to 0.48).
  EXPECT_NEAR(empty, 0.5 * std::exp(-0.1), 0.05);
}

TEST(TraceTest, MeanRateOfEveryKind) {
  const std::vector<std::pair<std::string, double>> cases = {
      {"poisson:rate=200,duration=1", 200},
      {"gamma:rate=300,cv2=4,duration=1", 300},
      {"ramp:from=100,to=0,duration=1", 50},
      {"mmpp:calm=100,burst=1000,calm_s=1,burst_s=0.2,duration=1", 250},
      {"mmpp:calm=0,burst=10,calm_s=3,burst_s=1,duration=1", 2.5},
      {"file:/nonexistent/trace.txt", 0}};
  for (const auto& [spec_text, mean_rate] : cases) {
    absl::StatusOr<TraceSpec> spec = ParseTraceSpec(spec_text);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_DOUBLE_EQ(TraceMeanRate(*spec), mean_rate) << spec_text;
  }
}

TEST(TraceTest, FileWithOptionalSloColumnAndComments) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/trace_ok.txt");
  std::ofstream(path) << "# arrival_us slo_ms\n0\n1500 25\n\n1500\t7.5  # same instant\n90000\n";
  absl::StatusOr<std::unique_ptr<ArrivalSource>> source =
      OpenTrace(*ParseTraceSpec("file:" + path), 0);
  ASSERT_TRUE(source.ok()) << source.status();
  std::vector<Arrival> arrivals;
  Arrival a;
  while ((*source)->Next(&a)) arrivals.push_back(a);
  ASSERT_EQ(arrivals.size(), 4u);
  EXPECT_EQ(arrivals[1].time, absl::Microseconds(1500));
  EXPECT_EQ(arrivals[1].slo, absl::Milliseconds(25));
  EXPECT_EQ(arrivals[2].slo, absl::Microseconds(7500));
  EXPECT_EQ(arrivals[3].slo, absl::ZeroDuration());  // the default SLO applies
  EXPECT_EQ(arrivals[3].time, absl::Milliseconds(90));
}

TEST(TraceTest, ParseTraceFileReadsTextAndNamesItsSource) {
  // The last line needs no newline.
  absl::StatusOr<std::vector<Arrival>> arrivals = ParseTraceFile("0\n10 5\n20", "mem");
  ASSERT_TRUE(arrivals.ok()) << arrivals.status();
  ASSERT_EQ(arrivals->size(), 3u);
  EXPECT_EQ((*arrivals)[1].slo, absl::Milliseconds(5));
  EXPECT_EQ((*arrivals)[2].time, absl::Microseconds(20));
  absl::StatusOr<std::vector<Arrival>> bad = ParseTraceFile("0\n\n1 2 3", "mem");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("mem:3: expected"));
}

TEST(TraceTest, BadFilesNameTheLine) {
  const std::string dir = ::testing::TempDir();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"10\n5\n", ":2: arrival time 5 is earlier than the previous line's 10"},
      {"10\nabc\n", ":2: arrival time 'abc' is not a number"},
      {"-3\n", ":1: arrival time '-3'"},
      // Past int64 nanoseconds: the simulator dropped such an arrival without a word.
      {"0\n1e300\n", ":2: arrival time '1e300' is not a number of µs in [0, 1e15]"},
      {"10 0\n", ":1: SLO '0' is not a number of ms > 0"},
      {"10 5 6\n", ":1: expected '<arrival_us> [<slo_ms>]', got 3 fields"},
      // Control bytes are escaped and a long field is cut.
      {"\x01\x1b[2J\n", ":1: arrival time '\\x01\\x1b[2J' is not a number"},
      {"10 " + std::string(100, 'x') + "\n", ":1: SLO '" + std::string(40, 'x') + "...' is not"}};
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = absl::StrCat(dir, "/trace_bad", i, ".txt");
    std::ofstream(path) << cases[i].first;
    absl::StatusOr<std::unique_ptr<ArrivalSource>> source =
        OpenTrace(*ParseTraceSpec("file:" + path), 0);
    ASSERT_FALSE(source.ok()) << cases[i].first;
    EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(source.status().message(), HasSubstr(path + cases[i].second));
  }
  absl::StatusOr<std::unique_ptr<ArrivalSource>> missing =
      OpenTrace(*ParseTraceSpec("file:/nonexistent/trace.txt"), 0);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ternserve
