// Tests for scheduler/infaas_policy.cc: a table of decisions.
#include "scheduler/infaas_policy.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/scheduler/policy_test_util.h"
#include "tests/scheduler/test_profile.h"

namespace ternserve {
namespace {

struct Case {
  std::string name;
  int queue_size;
  double slack_us;
  int want_subnet;
  int want_batch;
};

class InfaasDecisionTest : public ::testing::TestWithParam<Case> {};

TEST_P(InfaasDecisionTest, Chooses) {
  const Case& c = GetParam();
  const InfaasPolicy policy(ThreeSubnetProfile(), /*max_batch=*/8);
  EXPECT_EQ(policy.Choose(TestNow(), Queue(c.queue_size, c.slack_us)),
            Decision::Run(c.want_subnet, c.want_batch));
}

INSTANTIATE_TEST_SUITE_P(
    Table, InfaasDecisionTest,
    ::testing::Values(Case{"idle_most_accurate", 1, 20000, 2, 1},
                      Case{"whole_queue_most_accurate_that_fits", 8, 10000, 2, 8},
                      Case{"drops_to_a_faster_subnet", 8, 5000, 1, 8},
                      // Nothing fits at 8: halve to 4, where only sub-net 0 fits.
                      Case{"halves_batch_when_nothing_fits", 8, 2000, 0, 4},
                      // Batch 5 is not profiled: p99(2,5) = 7200 > 7000, p99(1,5) = 3600.
                      Case{"interpolates_unprofiled_batch", 5, 7000, 1, 5},
                      Case{"caps_at_max_batch", 20, 20000, 2, 8}),
    [](const auto& info) { return info.param.name; });

TEST(InfaasPolicyTest, HopelessRuleIsTheFastestSubnet) {
  const InfaasPolicy policy(ThreeSubnetProfile(/*overhead_us=*/100), 8);
  EXPECT_EQ(policy.hopeless_rule().late_subnet_id, 0);
  EXPECT_EQ(policy.hopeless_rule().min_latency, absl::Microseconds(1000));
  EXPECT_EQ(policy.hopeless_rule().overhead, absl::Microseconds(100));
  // Overhead comes off the slack: 4850 - 100 = 4750 < p99(2,2) = 4800, so (1,2).
  EXPECT_EQ(policy.Choose(TestNow(), Queue(2, 4850)), Decision::Run(1, 2));
  EXPECT_EQ(policy.Choose(TestNow(), Queue(2, 4900)), Decision::Run(2, 2));
}

}  // namespace
}  // namespace ternserve
