// Tests for scheduler/fixed_policy.cc: Triton-style dynamic batching decisions.
#include "scheduler/fixed_policy.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/scheduler/policy_test_util.h"

namespace ternserve {
namespace {

struct Case {
  std::string name;
  double max_queue_delay_us;
  QueueView queue;
  Decision want;
};

class FixedDecisionTest : public ::testing::TestWithParam<Case> {};

TEST_P(FixedDecisionTest, Chooses) {
  const Case& c = GetParam();
  const FixedPolicy policy(/*subnet_id=*/1, /*max_batch=*/4,
                           absl::Microseconds(c.max_queue_delay_us));
  EXPECT_EQ(policy.Choose(TestNow(), c.queue), c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, FixedDecisionTest,
    ::testing::Values(
        Case{"full_batch_at_once", 2000, Queue(4, 1e6), Decision::Run(1, 4)},
        Case{"caps_at_max_batch", 2000, Queue(9, 1e6), Decision::Run(1, 4)},
        Case{"waits_for_batch_to_fill", 2000, Queue(2, 1e6, /*waited_us=*/500),
             Decision::WaitUntil(TestNow() + absl::Microseconds(1500))},
        Case{"delay_expired", 2000, Queue(2, 1e6, /*waited_us=*/2000), Decision::Run(1, 2)},
        Case{"flush_never_waits", 2000, Queue(2, 1e6, 0, /*flush=*/true), Decision::Run(1, 2)},
        Case{"no_delay_takes_what_is_queued", 0, Queue(3, 1e6), Decision::Run(1, 3)},
        // Deadlines do not matter to this policy.
        Case{"ignores_slack", 0, Queue(1, 10), Decision::Run(1, 1)}),
    [](const auto& info) { return info.param.name; });

TEST(FixedPolicyTest, HopelessRuleUsesItsOwnSubnet) {
  const FixedPolicy policy(3, 8, absl::ZeroDuration(), absl::Microseconds(700),
                           absl::Microseconds(50));
  EXPECT_EQ(policy.name(), "fixed:3");
  const HopelessRule rule = policy.hopeless_rule();
  EXPECT_EQ(rule.late_subnet_id, 3);
  EXPECT_EQ(rule.late_max_batch, 8);
  EXPECT_FALSE(rule.IsHopeless(TestNow() + absl::Microseconds(750), TestNow()));
  EXPECT_TRUE(rule.IsHopeless(TestNow() + absl::Microseconds(749), TestNow()));
}

}  // namespace
}  // namespace ternserve
