// Tests for scheduler/slackfit.cc: bucket construction and a table of decisions.
#include "scheduler/slackfit.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/scheduler/policy_test_util.h"
#include "tests/scheduler/test_profile.h"

namespace ternserve {
namespace {

// With 4 buckets over [1000, 9600] µs (width 2150) the three-sub-net profile groups as:
//   bucket 0 [1000, 3150): (0,1) (0,2) (0,4) (0,8) (1,1) (1,2)
//   bucket 1 [3150, 5300): (1,4) (1,8) (2,1) (2,2)
//   bucket 2 [5300, 7450): (2,4)
//   bucket 3 [7450, 9600]: (2,8)
TEST(SlackFitTest, GroupsChoicesIntoLatencyBuckets) {
  const SlackFitPolicy policy(ThreeSubnetProfile(), /*num_buckets=*/4, /*max_batch=*/0);
  ASSERT_EQ(policy.buckets().size(), 4u);
  EXPECT_EQ(policy.buckets()[0].size(), 6u);
  EXPECT_EQ(policy.buckets()[1].size(), 4u);
  EXPECT_EQ(policy.buckets()[3].size(), 1u);
  // Inside a bucket: largest batch first, then the more accurate sub-net.
  EXPECT_EQ(policy.buckets()[0][0].batch, 8);
  EXPECT_EQ(policy.buckets()[0][2].subnet_id, 1);  // (1,2) before (0,2)
  EXPECT_EQ(policy.buckets()[0][2].batch, 2);
  EXPECT_EQ(policy.hopeless_rule().min_latency, absl::Microseconds(1000));
  EXPECT_EQ(policy.hopeless_rule().late_subnet_id, 0);
  EXPECT_EQ(policy.hopeless_rule().late_max_batch, 8);
}

struct Case {
  std::string name;
  double overhead_us;
  int queue_size;
  double slack_us;
  int want_subnet;
  int want_batch;
};

class SlackFitDecisionTest : public ::testing::TestWithParam<Case> {};

TEST_P(SlackFitDecisionTest, Chooses) {
  const Case& c = GetParam();
  const SlackFitPolicy policy(ThreeSubnetProfile(c.overhead_us), 4, 0);
  EXPECT_EQ(policy.Choose(TestNow(), Queue(c.queue_size, c.slack_us)),
            Decision::Run(c.want_subnet, c.want_batch));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SlackFitDecisionTest,
    ::testing::Values(
        // Light load, lots of slack: the slowest batch-1 choice, the most accurate sub-net.
        Case{"idle_most_accurate", 0, 1, 20000, 2, 1},
        // The queue fills the slowest bucket's batch: take it.
        Case{"full_queue_slowest_bucket", 0, 8, 20000, 2, 8},
        // Queue of 5 cannot fill (2,8): the next bucket's (2,4).
        Case{"partial_queue_next_bucket", 0, 5, 20000, 2, 4},
        // 5 ms of slack: bucket 1; the biggest batch that fits the slack and the queue.
        Case{"burst_bigger_batch_faster_subnet", 0, 8, 5000, 1, 8},
        // Same bucket, queue of 2: the largest batch the queue fills.
        Case{"bucket_tie_to_accuracy", 0, 2, 5000, 2, 2},
        // (2,2) at 4800 no longer fits 4500; within the bucket (2,1) does.
        Case{"only_fitting_choices", 0, 2, 4500, 2, 1},
        // 2.5 ms: bucket 0, batch 8 on the fast sub-net.
        Case{"tight_slack_fast_subnet", 0, 8, 2500, 0, 8},
        Case{"tight_slack_tie_to_accuracy", 0, 2, 2500, 1, 2},
        // 1.1 ms: only (0,1) fits. (A queue of 8 or more would be a backlog nothing drains in
        // 1.1 ms: overload,
        // SlackFitTest.OverloadRunsTheFastestChoiceAndShedsWhatItWouldFinishLate.)
        Case{"barely_feasible", 0, 7, 1100, 0, 1},
        // Overhead comes off the slack: 2500 - 500 = 2000 leaves (1,2) at 2400 out.
        Case{"overhead_reduces_slack", 500, 2, 2500, 0, 2},
        Case{"overhead_reduces_slack_fast", 500, 4, 2500, 0, 4}),
    [](const auto& info) { return info.param.name; });

TEST(SlackFitTest, MaxBatchDropsLargerChoices) {
  const SlackFitPolicy policy(ThreeSubnetProfile(), 4, /*max_batch=*/4);
  EXPECT_EQ(policy.Choose(TestNow(), Queue(8, 20000)), Decision::Run(2, 4));
  EXPECT_EQ(policy.hopeless_rule().late_max_batch, 4);
}

TEST(SlackFitTest, SingleBucketStillPrefersBatchThenAccuracy) {
  const SlackFitPolicy policy(ThreeSubnetProfile(), 1, 0);
  ASSERT_EQ(policy.buckets().size(), 1u);
  EXPECT_EQ(policy.Choose(TestNow(), Queue(8, 20000)), Decision::Run(2, 8));
  EXPECT_EQ(policy.Choose(TestNow(), Queue(3, 20000)), Decision::Run(2, 2));
}

// Step 5, draining a backlog. The horizon is the head's SLO: slack + waited (overhead 0).
struct DrainCase {
  std::string name;
  double overhead_us;
  int queue_size;
  double slack_us;
  double waited_us;
  int want_subnet;
  int want_batch;
};

class SlackFitDrainTest : public ::testing::TestWithParam<DrainCase> {};

TEST_P(SlackFitDrainTest, Chooses) {
  const DrainCase& c = GetParam();
  const SlackFitPolicy policy(ThreeSubnetProfile(c.overhead_us), 4, 0);
  EXPECT_EQ(policy.Choose(TestNow(), Queue(c.queue_size, c.slack_us, c.waited_us)),
            Decision::Run(c.want_subnet, c.want_batch));
}

INSTANTIATE_TEST_SUITE_P(
    Table, SlackFitDrainTest,
    ::testing::Values(
        // Draining takes the mean latency (p50 0.8 x p99, so mean 0.804 x p99): (2,8) at 7718 us.
        // (2,8) fits the slack but 3 x 7718 > 20000: the slowest choice that drains, (1,8).
        DrainCase{"backlog_moves_to_draining_choice", 0, 20, 20000, 0, 1, 8},
        // Waiting lengthens the horizon (SLO 22 ms) but 23155 still does not drain.
        DrainCase{"backlog_horizon_is_head_slo", 0, 20, 10000, 12000, 1, 8},
        // 2 x 7718 drains 16 in 20 ms: plain SlackFit's choice stands.
        DrainCase{"backlog_that_drains_keeps_slowest", 0, 16, 20000, 0, 2, 8},
        // Overhead is paid per batch: 2 x (7718 + 2500) > 20000, though 2 x 7718 is not.
        DrainCase{"overhead_counts_per_batch", 2500, 16, 20000, 0, 1, 8},
        // Below kMinDrainQueue step 5 is off: (2,4) although 2 x 6400 > 9000.
        DrainCase{"short_queue_plain_slackfit", 0, 7, 9000, 0, 2, 4}),
    [](const auto& info) { return info.param.name; });

TEST(SlackFitTest, DropsDominatedChoices) {
  // id 3 is slower than id 0 and less accurate at every batch; id 4 ties id 1 in latency and is
  // less accurate only at batch 1 (its batch-2 latency is lower, so it stays there).
  const LatencyProfile profile = MakeProfile({{0, 0.80, {1000, 1200}},
                                              {1, 0.85, {2000, 2400}},
                                              {3, 0.79, {1500, 1800}},
                                              {4, 0.84, {2000, 2300}}});
  const SlackFitPolicy policy(profile, 1, 0);
  ASSERT_EQ(policy.buckets().size(), 1u);
  std::vector<std::pair<int, int>> kept;
  for (const SlackFitPolicy::Choice& c : policy.buckets()[0])
    kept.push_back({c.subnet_id, c.batch});
  EXPECT_EQ(kept, (std::vector<std::pair<int, int>>{{1, 2}, {4, 2}, {0, 2}, {1, 1}, {0, 1}}));
  // With 4 buckets over [1000, 2400], (3,1) at 1500 us would sit alone in a slower bucket than
  // (0,1) and win with 1600 us of slack.
  const SlackFitPolicy four(profile, 4, 0);
  EXPECT_EQ(four.Choose(TestNow(), Queue(1, 1600)), Decision::Run(0, 1));
}

TEST(SlackFitTest, DrainingCountsTheArrivalsStillComing) {
  const SlackFitPolicy policy(ThreeSubnetProfile(), 4, 0);
  QueueView queue = Queue(20, 20000);
  EXPECT_EQ(policy.Choose(TestNow(), queue), Decision::Run(1, 8));  // 3 x 3859 us drains 20
  // At 2000/s more, (1,8) serves 8 / 3859 us = 2073/s: the queue shrinks by 73/s and takes 274 ms;
  // (0,8) at 4145/s drains it in 9.3 ms.
  queue.arrival_rate = 2000;
  EXPECT_EQ(policy.Choose(TestNow(), queue), Decision::Run(0, 8));
}

// Step 7: nothing drains 100 in 5 ms. The highest-throughput choice, (0,8) at 8 / 2400 us, runs
// and sheds the requests due before it would finish: its p99 plus the overhead from now, at the
// current latency scale.
TEST(SlackFitTest, OverloadRunsTheFastestChoiceAndShedsWhatItWouldFinishLate) {
  SlackFitPolicy policy(ThreeSubnetProfile(/*overhead_us=*/100), 4, 0);
  Decision want = Decision::Run(0, 8);
  want.shed_before = TestNow() + absl::Microseconds(2400 + 100);
  EXPECT_EQ(policy.Choose(TestNow(), Queue(100, 5000)), want);
  policy.set_latency_scale(2);  // the machine runs at half the profile's speed
  want.shed_before = TestNow() + absl::Microseconds(2 * (2400 + 100));
  EXPECT_EQ(policy.Choose(TestNow(), Queue(100, 5000)), want);
  // A queue that drains is not overload: nothing is shed.
  EXPECT_EQ(policy.Choose(TestNow(), Queue(16, 40000)).shed_before, absl::InfinitePast());
}

// Step 6: at an arrival rate a sub-net cannot carry its share of (margin x rate), it is left out.
// With a 20 ms SLO (p99 + overhead <= 20000 at every batch), sub-net 2 serves at most
// 8 / (0.804 x 9600 us) = 1037/s, sub-net 1 2073/s, sub-net 0 4146/s.
TEST(SlackFitTest, LeavesOutSubnetsThatCannotKeepUpWithTheArrivalRate) {
  const SlackFitPolicy policy(ThreeSubnetProfile(), 4, 0);
  const double margin = SlackFitPolicy::kDefaultSustainMargin;
  QueueView queue = Queue(1, 20000);
  EXPECT_EQ(policy.Choose(TestNow(), queue), Decision::Run(2, 1));
  queue.arrival_rate = 1000 / margin;  // sub-net 2 still keeps up
  EXPECT_EQ(policy.Choose(TestNow(), queue), Decision::Run(2, 1));
  queue.arrival_rate = 1500 / margin;
  EXPECT_EQ(policy.Choose(TestNow(), queue), Decision::Run(1, 1));
  queue.arrival_rate = 3000 / margin;
  EXPECT_EQ(policy.Choose(TestNow(), queue), Decision::Run(0, 1));
  queue.arrival_rate = 50000 / margin;  // none keeps up: the one with the largest capacity
  EXPECT_EQ(policy.Choose(TestNow(), queue), Decision::Run(0, 1));
  const SlackFitPolicy no_margin(ThreeSubnetProfile(), 4, 0, SlackFitPolicy::kDefaultDrainFactor,
                                 /*sustain_margin=*/0);
  EXPECT_EQ(no_margin.Choose(TestNow(), queue), Decision::Run(2, 1));
}

TEST(SlackFitTest, ABatchIsNeverSlowerThanALargerOneOfItsSubnet) {
  // Sub-net 0's batch 2 was profiled slower (a noisy tail) than its batch 4.
  const SlackFitPolicy policy(MakeProfile({{0, 0.80, {1000, 3000, 1600}}}), 4, 0);
  for (const auto& bucket : policy.buckets()) {
    for (const SlackFitPolicy::Choice& c : bucket) {
      if (c.batch == 2) {
        EXPECT_EQ(c.p99_us, 1600);
      }
    }
  }
  // With 1700 us of slack the batch of 4 runs, not 2 (in the bucket of 3000 it would have won).
  EXPECT_EQ(policy.Choose(TestNow(), Queue(4, 1700)), Decision::Run(0, 4));
}

TEST(SlackFitTest, DrainFactorZeroIsPlainSlackFit) {
  const SlackFitPolicy plain(ThreeSubnetProfile(), 4, 0, /*drain_factor=*/0);
  EXPECT_EQ(plain.Choose(TestNow(), Queue(20, 20000)), Decision::Run(2, 8));
  EXPECT_EQ(plain.Choose(TestNow(), Queue(100, 5000)), Decision::Run(1, 8));
  // A larger factor is more lenient: 3 x 9600 <= 1.5 x 20000.
  const SlackFitPolicy lenient(ThreeSubnetProfile(), 4, 0, /*drain_factor=*/1.5);
  EXPECT_EQ(lenient.Choose(TestNow(), Queue(20, 20000)), Decision::Run(2, 8));
}

}  // namespace
}  // namespace ternserve
