// Tests for scheduler/clipper_policy.cc: AIMD batch cap.
#include "scheduler/clipper_policy.h"

#include "gtest/gtest.h"
#include "tests/scheduler/policy_test_util.h"

namespace ternserve {
namespace {

BatchOutcome Outcome(int subnet, int batch, bool met) {
  return BatchOutcome{subnet, batch, absl::Milliseconds(1), met};
}

TEST(ClipperPolicyTest, AdditiveIncreaseMultiplicativeDecrease) {
  ClipperPolicy policy(/*subnet_id=*/2, /*max_batch=*/8, absl::Microseconds(900),
                       absl::ZeroDuration());
  EXPECT_EQ(policy.name(), "clipper:2");
  // Starts at 1, whatever the queue.
  EXPECT_EQ(policy.Choose(TestNow(), Queue(5, 1e6)), Decision::Run(2, 1));
  // Each batch that meets every deadline adds 1.
  for (int i = 0; i < 3; ++i) policy.OnBatchDone(Outcome(2, 1, true));
  EXPECT_EQ(policy.batch_cap(), 4);
  EXPECT_EQ(policy.Choose(TestNow(), Queue(5, 1e6)), Decision::Run(2, 4));
  EXPECT_EQ(policy.Choose(TestNow(), Queue(2, 1e6)), Decision::Run(2, 2));  // never above queue
  // A miss cuts it by 10%: 4 -> 3.6.
  policy.OnBatchDone(Outcome(2, 4, false));
  EXPECT_EQ(policy.batch_cap(), 3);
  // Capped at max_batch; floored at 1.
  for (int i = 0; i < 20; ++i) policy.OnBatchDone(Outcome(2, 4, true));
  EXPECT_EQ(policy.batch_cap(), 8);
  for (int i = 0; i < 50; ++i) policy.OnBatchDone(Outcome(2, 4, false));
  EXPECT_EQ(policy.batch_cap(), 1);
  // Feedback about another sub-net's batch is ignored.
  policy.OnBatchDone(Outcome(0, 4, true));
  EXPECT_EQ(policy.batch_cap(), 1);
}

TEST(ClipperPolicyTest, HopelessRule) {
  const ClipperPolicy policy(2, 8, absl::Microseconds(900), absl::Microseconds(10));
  EXPECT_EQ(policy.hopeless_rule().late_subnet_id, 2);
  EXPECT_EQ(policy.hopeless_rule().min_latency, absl::Microseconds(900));
  EXPECT_EQ(policy.hopeless_rule().overhead, absl::Microseconds(10));
}

}  // namespace
}  // namespace ternserve
