// Tests for scheduler/dispatch_step.h: hopeless requests under both late modes, batch formation
// in EDF order from the policy's decision, and the requests a decision sheds.
#include "scheduler/dispatch_step.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/fixed_policy.h"
#include "scheduler/slackfit.h"
#include "tests/scheduler/policy_test_util.h"
#include "tests/scheduler/test_profile.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using Queue = EdfQueue<int>;

std::vector<int> Ids(const std::vector<Queue::Entry>& entries) {
  std::vector<int> ids;
  for (const Queue::Entry& e : entries) ids.push_back(e.payload);
  return ids;
}

class DispatchStepTest : public ::testing::Test {
 protected:
  // Request `id` arrives at TestNow() and is due `slack_us` later.
  void Add(int id, double slack_us) {
    ASSERT_TRUE(queue_.Push(TestNow(), TestNow() + absl::Microseconds(slack_us), int{id}));
  }
  Decision Step(const Policy& policy, LateMode late, bool flush = false) {
    return TakeNextBatch(TestNow(), flush, policy, late, &queue_, &batch_, &dropped_);
  }

  Queue queue_{100};
  std::vector<Queue::Entry> batch_;
  std::vector<Queue::Entry> dropped_;
  // Fastest sub-net: 1000 µs at batch 1.
  const SlackFitPolicy slackfit_{ThreeSubnetProfile(), 4, 0};
};

TEST_F(DispatchStepTest, FormsTheChosenBatchInEdfOrder) {
  Add(0, 20000);
  Add(1, 15000);
  Add(2, 30000);
  Add(3, 12000);
  Add(4, 25000);
  // Head slack 12 ms, 5 queued: slackfit takes (2,4) from the slowest bucket it can fill.
  const Decision d = Step(slackfit_, LateMode::kDrop);
  EXPECT_EQ(d, Decision::Run(2, 4));
  EXPECT_THAT(Ids(batch_), ElementsAre(3, 1, 0, 4));
  EXPECT_TRUE(dropped_.empty());
  EXPECT_EQ(queue_.size(), 1);
  EXPECT_EQ(queue_.top().payload, 2);
}

TEST_F(DispatchStepTest, DropsHopelessHeadsThenSchedulesTheRest) {
  Add(0, 999);   // hopeless: below the fastest sub-net's 1000 µs
  Add(1, -50);   // already late
  Add(2, 1000);  // exactly feasible
  Add(3, 20000);
  const Decision d = Step(slackfit_, LateMode::kDrop);
  EXPECT_THAT(Ids(dropped_), ElementsAre(1, 0));
  EXPECT_EQ(d, Decision::Run(0, 1));  // head 2 has 1000 µs: only (0,1) fits
  EXPECT_THAT(Ids(batch_), ElementsAre(2));
}

TEST_F(DispatchStepTest, ServeModeRunsHopelessOnTheFastestSubnetAsLate) {
  Add(0, 500);
  Add(1, -50);
  Add(2, 20000);
  Decision d = Step(slackfit_, LateMode::kServe);
  EXPECT_TRUE(dropped_.empty());
  Decision want = Decision::Run(0, 2);
  want.late = true;
  EXPECT_EQ(d, want);
  EXPECT_THAT(Ids(batch_), ElementsAre(1, 0));
  // The next step schedules the feasible request normally.
  d = Step(slackfit_, LateMode::kServe);
  EXPECT_EQ(d, Decision::Run(2, 1));
  EXPECT_FALSE(d.late);
}

TEST_F(DispatchStepTest, LateBatchIsBoundedByLateMaxBatch) {
  const FixedPolicy fixed(1, /*max_batch=*/2, absl::ZeroDuration(), absl::Microseconds(1000));
  for (int id = 0; id < 5; ++id) Add(id, 10);
  EXPECT_EQ(Step(fixed, LateMode::kServe).batch, 2);
  EXPECT_EQ(Step(fixed, LateMode::kServe).batch, 2);
  EXPECT_EQ(Step(fixed, LateMode::kServe).batch, 1);
  EXPECT_TRUE(queue_.empty());
}

TEST_F(DispatchStepTest, AllHopelessUnderDropLeavesNothingToRun) {
  Add(0, 10);
  Add(1, 20);
  const Decision d = Step(slackfit_, LateMode::kDrop);
  EXPECT_EQ(d.batch, 0);
  EXPECT_EQ(d.retry_at, absl::InfiniteFuture());
  EXPECT_THAT(Ids(dropped_), ElementsAre(0, 1));
  EXPECT_TRUE(queue_.empty());
}

TEST_F(DispatchStepTest, WaitingPolicyTakesNothingUnlessFlushed) {
  const FixedPolicy fixed(1, 4, absl::Milliseconds(2));
  Add(0, 20000);
  Decision d = Step(fixed, LateMode::kDrop);
  EXPECT_EQ(d, Decision::WaitUntil(TestNow() + absl::Milliseconds(2)));
  EXPECT_TRUE(batch_.empty());
  EXPECT_EQ(queue_.size(), 1);
  d = Step(fixed, LateMode::kDrop, /*flush=*/true);
  EXPECT_EQ(d, Decision::Run(1, 1));
  EXPECT_THAT(Ids(batch_), ElementsAre(0));
}

// Runs `decision` whatever the queue; nothing is hopeless.
class FixedDecisionPolicy final : public Policy {
 public:
  explicit FixedDecisionPolicy(Decision decision) : decision_(decision) {}
  std::string name() const override { return "fixed-decision"; }
  Decision Choose(absl::Time /*now*/, const QueueView& /*queue*/) const override {
    return decision_;
  }
  HopelessRule hopeless_rule() const override { return {}; }

 private:
  Decision decision_;
};

TEST_F(DispatchStepTest, ShedsTheHeadsDueBeforeShedBeforeThenTakesTheBatch) {
  for (int id = 0; id < 6; ++id) Add(id, 1000 * (id + 1));  // due 1..6 ms from now
  Decision shed = Decision::Run(0, 2);
  shed.shed_before = TestNow() + absl::Microseconds(2500);
  const FixedDecisionPolicy policy(shed);
  EXPECT_EQ(Step(policy, LateMode::kDrop), shed);
  EXPECT_THAT(Ids(dropped_), ElementsAre(0, 1));  // due at 1 and 2 ms: before 2.5 ms
  EXPECT_THAT(Ids(batch_), ElementsAre(2, 3));
  // late=serve sheds nothing: every request is run, late or not.
  EXPECT_EQ(Step(policy, LateMode::kServe).batch, 2);
  EXPECT_TRUE(dropped_.empty());
  EXPECT_THAT(Ids(batch_), ElementsAre(4, 5));
}

TEST_F(DispatchStepTest, SheddingEveryRequestLeavesNothingToRun) {
  Add(0, 1000);
  Add(1, 2000);
  Decision shed = Decision::Run(0, 2);
  shed.shed_before = TestNow() + absl::Milliseconds(5);
  const Decision d = Step(FixedDecisionPolicy(shed), LateMode::kDrop);
  EXPECT_EQ(d.batch, 0);
  EXPECT_THAT(Ids(dropped_), ElementsAre(0, 1));
  EXPECT_TRUE(batch_.empty());
  EXPECT_TRUE(queue_.empty());
}

TEST_F(DispatchStepTest, EmptyQueue) {
  const Decision d = Step(slackfit_, LateMode::kDrop);
  EXPECT_EQ(d.batch, 0);
  EXPECT_TRUE(batch_.empty());
}

TEST(ParseLateModeTest, Modes) {
  EXPECT_EQ(*ParseLateMode("drop"), LateMode::kDrop);
  EXPECT_EQ(*ParseLateMode("serve"), LateMode::kServe);
  EXPECT_EQ(ParseLateMode("later").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ternserve
