// Tests of client/loadgen_plan.cc: --slo_mix parsing and the request plan.
#include "client/loadgen_plan.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

TEST(ParseSloMixTest, AcceptsWeightedEntries) {
  absl::StatusOr<std::vector<SloMixEntry>> mix = ParseSloMix("25:0.7,100:0.3");
  ASSERT_TRUE(mix.ok()) << mix.status();
  ASSERT_EQ(mix->size(), 2u);
  EXPECT_DOUBLE_EQ((*mix)[0].slo_ms, 25);
  EXPECT_DOUBLE_EQ((*mix)[0].weight, 0.7);
  EXPECT_DOUBLE_EQ((*mix)[1].slo_ms, 100);
  EXPECT_DOUBLE_EQ((*mix)[1].weight, 0.3);
  // Weights need not sum to 1; fractional SLOs are fine.
  mix = ParseSloMix("2.5:3");
  ASSERT_TRUE(mix.ok()) << mix.status();
  EXPECT_DOUBLE_EQ((*mix)[0].slo_ms, 2.5);
}

TEST(ParseSloMixTest, RejectsBadSpecs) {
  const struct {
    const char* spec;
    const char* message;
  } cases[] = {
      {"", "empty"},
      {"25", "not SLO:weight"},
      {"25:0.5:1", "not SLO:weight"},
      {"25:0.5,", "not SLO:weight"},
      {"abc:1", "bad SLO 'abc'"},
      {"0:1", "bad SLO '0'"},
      {"-5:1", "bad SLO '-5'"},
      {"nan:1", "bad SLO 'nan'"},
      {"25:0", "bad weight '0'"},
      {"25:-1", "bad weight '-1'"},
      {"25:x", "bad weight 'x'"},
      {"25:inf", "bad weight 'inf'"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<std::vector<SloMixEntry>> mix = ParseSloMix(c.spec);
    ASSERT_FALSE(mix.ok()) << "'" << c.spec << "' was accepted";
    EXPECT_EQ(mix.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(mix.status().message()), HasSubstr(c.message)) << c.spec;
  }
}

std::vector<Arrival> EvenArrivals(int n) {
  std::vector<Arrival> arrivals;
  for (int i = 0; i < n; ++i) arrivals.push_back({absl::Microseconds(100 * i)});
  return arrivals;
}

TEST(PlanRequestsTest, LaysOutArrivalsSlosAndImages) {
  std::unique_ptr<ArrivalSource> trace = ListTrace(EvenArrivals(20000));
  PlanOptions options;
  options.slo_mix = {{25, 3}, {100, 1}};
  options.image_count = 7;
  absl::StatusOr<std::vector<RequestRecord>> plan = PlanRequests(trace.get(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->size(), 20000u);
  std::map<float, int> slos;
  std::map<int, int> images;
  for (size_t i = 0; i < plan->size(); ++i) {
    const RequestRecord& r = (*plan)[i];
    EXPECT_EQ(r.arrival_ns, static_cast<int64_t>(i) * 100000);
    EXPECT_EQ(r.code, RequestRecord::kNoResponse);
    ++slos[r.slo_ms];
    ++images[r.image];
  }
  ASSERT_EQ(slos.size(), 2u);
  EXPECT_NEAR(slos[25] / 20000.0, 0.75, 0.02);
  EXPECT_NEAR(slos[100] / 20000.0, 0.25, 0.02);
  ASSERT_EQ(images.size(), 7u);
  EXPECT_EQ(images.begin()->first, 0);
  EXPECT_EQ(images.rbegin()->first, 6);
  for (const auto& [image, count] : images) EXPECT_NEAR(count / 20000.0, 1 / 7.0, 0.02) << image;
}

TEST(PlanRequestsTest, TraceSloWinsOverTheMix) {
  std::unique_ptr<ArrivalSource> trace = ListTrace({{absl::ZeroDuration(), absl::Milliseconds(7)},
                                                    {absl::Milliseconds(1), absl::ZeroDuration()}});
  PlanOptions options;
  options.slo_mix = {{50, 1}};
  absl::StatusOr<std::vector<RequestRecord>> plan = PlanRequests(trace.get(), options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_FLOAT_EQ((*plan)[0].slo_ms, 7);
  EXPECT_FLOAT_EQ((*plan)[1].slo_ms, 50);
}

TEST(PlanRequestsTest, DeterministicForASeed) {
  auto plan = [](uint64_t seed) {
    std::unique_ptr<ArrivalSource> trace = ListTrace(EvenArrivals(100));
    PlanOptions options;
    options.slo_mix = {{10, 1}, {20, 1}};
    options.image_count = 10000;
    options.seed = seed;
    absl::StatusOr<std::vector<RequestRecord>> records = PlanRequests(trace.get(), options);
    std::vector<std::pair<float, int>> out;
    if (records.ok()) {
      for (const RequestRecord& r : *records) out.push_back({r.slo_ms, r.image});
    }
    return out;
  };
  EXPECT_EQ(plan(1), plan(1));
  EXPECT_NE(plan(1), plan(2));
}

TEST(PlanRequestsTest, RejectsBadOptionsAndHugeTraces) {
  PlanOptions options;
  options.slo_mix = {};
  std::unique_ptr<ArrivalSource> empty_mix = ListTrace(EvenArrivals(1));
  EXPECT_EQ(PlanRequests(empty_mix.get(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.slo_mix = {{50, 1}};
  options.max_requests = 10;
  std::unique_ptr<ArrivalSource> too_long = ListTrace(EvenArrivals(11));
  absl::StatusOr<std::vector<RequestRecord>> plan = PlanRequests(too_long.get(), options);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(std::string(plan.status().message()), HasSubstr("more than 10 arrivals"));
  std::unique_ptr<ArrivalSource> just_fits = ListTrace(EvenArrivals(10));
  EXPECT_TRUE(PlanRequests(just_fits.get(), options).ok());
}

TEST(PlanRequestsTest, FloorsAreDrawnFromTheMixWithoutChangingTheOtherDraws) {
  PlanOptions options;
  options.slo_mix = {{25, 3}, {100, 1}};
  options.image_count = 1000;
  auto plan = [&options] {
    std::unique_ptr<ArrivalSource> trace = ListTrace(std::vector<Arrival>(4000));
    absl::StatusOr<std::vector<RequestRecord>> records = PlanRequests(trace.get(), options);
    EXPECT_TRUE(records.ok()) << records.status();
    return *records;
  };
  const std::vector<RequestRecord> plain = plan();
  options.floor_mix = {{0.9, 1}, {0, 3}};
  const std::vector<RequestRecord> floored = plan();
  int with_floor = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(plain[i].floor, 0);
    ASSERT_GE(floored[i].floor, 1);
    ASSERT_LE(floored[i].floor, 2);
    with_floor += floored[i].floor == 1 ? 1 : 0;
    EXPECT_EQ(floored[i].slo_ms, plain[i].slo_ms);
    EXPECT_EQ(floored[i].image, plain[i].image);
  }
  EXPECT_NEAR(with_floor, 1000, 120);  // a quarter of 4000
}

}  // namespace
}  // namespace ternserve
