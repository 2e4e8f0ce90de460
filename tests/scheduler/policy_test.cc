// Tests for scheduler/policy.cc: policy specs.
#include "scheduler/policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/policy_test_util.h"
#include "tests/scheduler/test_profile.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

TEST(CreatePolicyTest, KnownSpecs) {
  const LatencyProfile profile = ThreeSubnetProfile();
  for (const auto& [spec, name] : std::vector<std::pair<std::string, std::string>>{
           {"slackfit", "slackfit"},
           {"infaas", "infaas"},
           {"fixed", "fixed:2"},  // the most accurate sub-net
           {"fixed:0", "fixed:0"},
           {"clipper", "clipper:2"},
           {"clipper:1", "clipper:1"}}) {
    absl::StatusOr<std::unique_ptr<Policy>> policy = CreatePolicy(spec, profile);
    ASSERT_TRUE(policy.ok()) << spec << ": " << policy.status();
    EXPECT_EQ((*policy)->name(), name);
  }
}

TEST(CreatePolicyTest, FixedUsesOptionsAndProfile) {
  PolicyOptions options;
  options.max_batch = 2;
  options.max_queue_delay = absl::Milliseconds(3);
  absl::StatusOr<std::unique_ptr<Policy>> policy =
      CreatePolicy("fixed:1", ThreeSubnetProfile(/*overhead_us=*/40), options);
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ((*policy)->Choose(TestNow(), Queue(5, 1e6)), Decision::Run(1, 2));
  EXPECT_EQ((*policy)->Choose(TestNow(), Queue(1, 1e6)),
            Decision::WaitUntil(TestNow() + absl::Milliseconds(3)));
  EXPECT_EQ((*policy)->hopeless_rule().min_latency, absl::Microseconds(2000));
  EXPECT_EQ((*policy)->hopeless_rule().overhead, absl::Microseconds(40));
}

TEST(CreatePolicyTest, BadSpecs) {
  const LatencyProfile profile = ThreeSubnetProfile();
  auto error = [&](const std::string& spec) { return CreatePolicy(spec, profile).status(); };
  EXPECT_EQ(error("edf").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(error("edf").message(), HasSubstr("valid policies: slackfit"));
  EXPECT_EQ(error("fixed:9").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(error("fixed:9").message(), HasSubstr("valid ids: 0, 1, 2"));
  EXPECT_EQ(error("fixed:x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error("slackfit:1").code(), absl::StatusCode::kInvalidArgument);
  LatencyProfile empty;
  EXPECT_EQ(CreatePolicy("slackfit", empty).status().code(), absl::StatusCode::kInvalidArgument);
}

// The syntax check the flag validators share, before any profile exists.
TEST(ValidatePolicySpecTest, AcceptsWhatCreatePolicyParsesAndNamesWhatItDoesNot) {
  for (const char* spec : {"slackfit", "infaas", "fixed", "fixed:3", "clipper", "clipper:0"}) {
    EXPECT_TRUE(ValidatePolicySpec(spec).ok()) << spec;
  }
  EXPECT_THAT(ValidatePolicySpec("nope").message(), HasSubstr("unknown policy 'nope'"));
  EXPECT_THAT(ValidatePolicySpec("slackfit:3").message(), HasSubstr("slackfit takes no argument"));
  EXPECT_THAT(ValidatePolicySpec("fixed:x").message(), HasSubstr("'x' is not a sub-net id"));
  EXPECT_EQ(ValidatePolicySpec("").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ternserve
