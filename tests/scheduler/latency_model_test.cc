// Tests for scheduler/latency_model.cc and the policies' latency scale: the model's reaction to a
// slowdown, its recovery and its immunity to one outlier, as tables of batch times; and that a
// policy at scale k decides exactly as it would on a profile whose latencies are k times larger.
#include "scheduler/latency_model.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/infaas_policy.h"
#include "scheduler/policy.h"
#include "scheduler/slackfit.h"
#include "tests/scheduler/policy_test_util.h"
#include "tests/scheduler/test_profile.h"

namespace ternserve {
namespace {

// ThreeSubnetProfile with 100 µs of overhead: sub-net 0 at batch 1 is predicted p50 800 + 100 µs
// and p99 1000 + 100 µs.
constexpr double kP50Us = 900, kP99Us = 1100;

// Feeds `n` batches of sub-net 0, batch 1, each taking `us`.
void Feed(OnlineLatencyModel* model, int n, double us) {
  for (int i = 0; i < n; ++i) model->Observe(0, 1, absl::Microseconds(us));
}

OnlineLatencyModel Model(LatencyModelOptions options = {}) {
  return OnlineLatencyModel(ThreeSubnetProfile(/*overhead_us=*/100), options);
}

TEST(OnlineLatencyModelTest, StaysAtOneWhileTheEngineRunsAsProfiled) {
  OnlineLatencyModel model = Model();
  // Spread around p50, with one batch in 16 past p99 (the profile allows 1%).
  for (int i = 0; i < 64; ++i) {
    model.Observe(0, 1,
                  absl::Microseconds(i % 16 == 15 ? 1.2 * kP99Us : kP50Us + (i % 8 - 4) * 20));
  }
  EXPECT_EQ(model.observed(), 64);
  EXPECT_DOUBLE_EQ(model.scale(), 1.0);
  EXPECT_LT(model.tail_ratio(), 1.0);
}

// A step to 1.5x slower: scale after k slow batches (following 16 as profiled, at p50 + 0).
struct StepCase {
  int slow_batches;
  double want_scale;
};

class StepSlowdownTest : public ::testing::TestWithParam<StepCase> {};

TEST_P(StepSlowdownTest, FollowsItWithinABoundedNumberOfBatches) {
  OnlineLatencyModel model = Model();
  Feed(&model, 16, kP50Us);
  Feed(&model, GetParam().slow_batches, 1.5 * kP50Us);
  EXPECT_NEAR(model.scale(), GetParam().want_scale, 1e-9) << GetParam().slow_batches;
}

INSTANTIATE_TEST_SUITE_P(
    Table, StepSlowdownTest,
    ::testing::Values(
        // One slow batch is an outlier: the tail term is the second-largest of 16.
        StepCase{0, 1.0}, StepCase{1, 1.0},
        // Two: the tail term sees it, 1.5 x 900 / 1100 of the p99.
        StepCase{2, 1.5 * kP50Us / kP99Us}, StepCase{7, 1.5 * kP50Us / kP99Us},
        // Eight of 16: the (upper) median is slow too, and it is the full 1.5.
        StepCase{8, 1.5}, StepCase{40, 1.5}));

TEST(OnlineLatencyModelTest, ReturnsToOneWithinTheWindowOnceTheMachineRecovers) {
  OnlineLatencyModel model = Model();
  Feed(&model, 32, 2 * kP50Us);
  ASSERT_DOUBLE_EQ(model.scale(), 2.0);
  Feed(&model, 8, kP50Us);
  EXPECT_DOUBLE_EQ(model.scale(), 2.0);  // 8 of 16 still slow: the upper median is
  Feed(&model, 6, kP50Us);
  EXPECT_NEAR(model.scale(), 2 * kP50Us / kP99Us, 1e-9);  // 2 slow left: the tail term
  Feed(&model, 1, kP50Us);
  EXPECT_DOUBLE_EQ(model.scale(), 1.0);  // 1 slow left, an outlier now
}

TEST(OnlineLatencyModelTest, OneOutlierMovesNothingAndManyAreCapped) {
  OnlineLatencyModel model = Model();
  Feed(&model, 16, kP50Us);
  Feed(&model, 1, 50000);  // a batch preempted for 50 ms
  EXPECT_DOUBLE_EQ(model.scale(), 1.0);
  Feed(&model, 16, 50000);
  EXPECT_DOUBLE_EQ(model.scale(), 4.0);  // max_scale
}

TEST(OnlineLatencyModelTest, NeverPlansBelowTheProfile) {
  OnlineLatencyModel model = Model();
  Feed(&model, 32, 0.5 * kP50Us);
  EXPECT_DOUBLE_EQ(model.scale(), 1.0);
  EXPECT_DOUBLE_EQ(model.median_ratio(), 0.5);
  LatencyModelOptions options;
  options.min_scale = 0.5;
  OnlineLatencyModel faster = Model(options);
  Feed(&faster, 32, 0.5 * kP50Us);
  EXPECT_DOUBLE_EQ(faster.scale(), 0.5);
}

TEST(OnlineLatencyModelTest, WaitsForMinSamplesBeforeMoving) {
  OnlineLatencyModel model = Model();
  Feed(&model, 7, 2 * kP50Us);
  EXPECT_DOUBLE_EQ(model.scale(), 1.0);
  Feed(&model, 1, 2 * kP50Us);
  EXPECT_DOUBLE_EQ(model.scale(), 2.0);
}

TEST(OnlineLatencyModelTest, ComparesWithTheProfileOfTheBatchThatRan) {
  OnlineLatencyModel model = Model();
  // Sub-net 2 at batch 8: p50 0.8 x 9600 + 100; at batch 3, interpolated between 2 and 4:
  // p50 0.8 x 5600 + 100. Both 1.25 x slower.
  for (int i = 0; i < 8; ++i) {
    model.Observe(2, 8, absl::Microseconds(1.25 * (0.8 * 9600 + 100)));
    model.Observe(2, 3, absl::Microseconds(1.25 * (0.8 * 5600 + 100)));
  }
  EXPECT_NEAR(model.median_ratio(), 1.25, 1e-9);
  EXPECT_NEAR(model.scale(), 1.25, 1e-9);
}

TEST(OnlineLatencyModelTest, IgnoresWhatItCannotCompare) {
  OnlineLatencyModel model = Model();
  for (int i = 0; i < 20; ++i) {
    model.Observe(7, 1, absl::Milliseconds(50));  // not in the profile
    model.Observe(0, 0, absl::Milliseconds(50));  // no requests
    model.Observe(0, 1, absl::ZeroDuration());
    model.Observe(0, 1, absl::Microseconds(-5));
  }
  EXPECT_EQ(model.observed(), 0);
  EXPECT_DOUBLE_EQ(model.scale(), 1.0);
}

TEST(LatencyModelOptionsTest, RefusesOptionsOutOfRange) {
  auto with = [](auto edit) {
    LatencyModelOptions o;
    edit(o);
    return ValidateLatencyModelOptions(o);
  };
  EXPECT_TRUE(with([](LatencyModelOptions&) {}).ok());
  EXPECT_EQ(with([](LatencyModelOptions& o) { o.min_samples = 0; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](LatencyModelOptions& o) { o.window = 4; }).code(),  // below min_samples
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](LatencyModelOptions& o) { o.window = 5000; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](LatencyModelOptions& o) { o.tail_quantile = 1; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](LatencyModelOptions& o) { o.max_scale = 0.9; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(with([](LatencyModelOptions& o) { o.min_scale = 0; }).code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status bad = with([](LatencyModelOptions& o) { o.tail_quantile = 0.2; });
  EXPECT_NE(bad.message().find("tail_quantile=0.2"), absl::string_view::npos) << bad;
}

// The profile with every latency and the overhead times k: what a policy at scale k must act on.
LatencyProfile Scaled(LatencyProfile profile, double k) {
  profile.overhead_us *= k;
  for (SubnetLatency& s : profile.subnets) {
    for (BatchLatency& b : s.batches) {
      b.p50_us *= k;
      b.p99_us *= k;
    }
  }
  return profile;
}

TEST(LatencyScaleTest, APolicyAtScaleKDecidesAsOnAProfileKTimesSlower) {
  const LatencyProfile profile = LadderProfile();
  for (const double k : {1.0, 1.3, 2.0, 3.7}) {
    SlackFitPolicy slackfit(profile, 8, 0);
    slackfit.set_latency_scale(k);
    const SlackFitPolicy slackfit_slow(Scaled(profile, k), 8, 0);
    InfaasPolicy infaas(profile, 64);
    infaas.set_latency_scale(k);
    const InfaasPolicy infaas_slow(Scaled(profile, k), 64);
    for (int size : {1, 3, 8, 20, 64, 200}) {
      for (double slack_us : {400.0, 1500.0, 4000.0, 9000.0, 25000.0, 60000.0}) {
        for (double waited_us : {0.0, 20000.0}) {
          SCOPED_TRACE(testing::Message() << "k " << k << " queue " << size << " slack " << slack_us
                                          << " waited " << waited_us);
          const QueueView queue = Queue(size, slack_us, waited_us);
          EXPECT_EQ(slackfit.Choose(TestNow(), queue), slackfit_slow.Choose(TestNow(), queue));
          EXPECT_EQ(infaas.Choose(TestNow(), queue), infaas_slow.Choose(TestNow(), queue));
          const absl::Time deadline = queue.earliest_deadline;
          EXPECT_EQ(slackfit.ScaledHopelessRule().IsHopeless(deadline, TestNow()),
                    slackfit_slow.hopeless_rule().IsHopeless(deadline, TestNow()));
        }
      }
    }
  }
}

TEST(LatencyScaleTest, FixedAndClipperDropWhatTheirSubnetCannotFinishAtTheScale) {
  PolicyOptions options;
  for (const char* spec : {"fixed:0", "clipper:0"}) {
    SCOPED_TRACE(spec);
    absl::StatusOr<std::unique_ptr<Policy>> policy =
        CreatePolicy(spec, ThreeSubnetProfile(100), options);
    ASSERT_TRUE(policy.ok()) << policy.status();
    // Sub-net 0 at batch 1: p99 1000 + 100 µs overhead.
    EXPECT_FALSE((*policy)->ScaledHopelessRule().IsHopeless(TestNow() + absl::Microseconds(1500),
                                                            TestNow()));
    (*policy)->set_latency_scale(1.5);  // 1650 µs now
    EXPECT_TRUE((*policy)->ScaledHopelessRule().IsHopeless(TestNow() + absl::Microseconds(1500),
                                                           TestNow()));
    EXPECT_FALSE((*policy)->ScaledHopelessRule().IsHopeless(TestNow() + absl::Microseconds(1650),
                                                            TestNow()));
  }
}

TEST(LatencyScaleTest, CreatePolicyAttachesTheModelOnlyWhenAsked) {
  PolicyOptions options;
  absl::StatusOr<std::unique_ptr<Policy>> plain =
      CreatePolicy("slackfit", ThreeSubnetProfile(100), options);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ((*plain)->latency_model(), nullptr);
  options.adapt_latency = true;
  absl::StatusOr<std::unique_ptr<Policy>> adaptive =
      CreatePolicy("slackfit", ThreeSubnetProfile(100), options);
  ASSERT_TRUE(adaptive.ok());
  ASSERT_NE((*adaptive)->latency_model(), nullptr);
  for (int i = 0; i < 16; ++i) {
    (*plain)->BatchDone({0, 1, absl::Microseconds(2 * kP50Us), true});
    (*adaptive)->BatchDone({0, 1, absl::Microseconds(2 * kP50Us), true});
  }
  EXPECT_DOUBLE_EQ((*plain)->latency_scale(), 1.0);
  EXPECT_DOUBLE_EQ((*adaptive)->latency_scale(), 2.0);
  // 6 ms of slack: the plain policy fits sub-net 2 (p99 4000 + 100 µs); at scale 2 that takes
  // 8200 µs, and sub-net 1 (2 x 2100) is the slowest that fits.
  EXPECT_EQ((*plain)->Choose(TestNow(), Queue(1, 6000)), Decision::Run(2, 1));
  EXPECT_EQ((*adaptive)->Choose(TestNow(), Queue(1, 6000)), Decision::Run(1, 1));

  options.latency_model.window = 2;  // below min_samples
  absl::StatusOr<std::unique_ptr<Policy>> bad =
      CreatePolicy("slackfit", ThreeSubnetProfile(100), options);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ternserve
