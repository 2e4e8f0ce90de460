// End-to-end tests for ternserve-sim (scheduler/sim_main.cc): JSON output, determinism, and
// exit codes for bad flags (2) and unusable files (1).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "scheduler/latency_profile.h"
#include "scheduler/schedule_log.h"
#include "tests/scheduler/test_profile.h"
#include "tests/testing/subprocess.h"

namespace ternserve {
namespace {

class SimMainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One file per test: ctest runs the tests of this suite as concurrent processes.
    profile_path_ =
        absl::StrCat(::testing::TempDir(), "/sim_main_profile.",
                     ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".json");
    ASSERT_TRUE(SaveLatencyProfile(LadderProfile(), profile_path_).ok());
  }

  // Runs ternserve-sim with `flags`; returns (exit code, stdout).
  std::pair<int, std::string> Sim(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {std::string(TERNSERVE_BINARY_DIR) + "/bin/ternserve-sim"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<std::pair<int, std::string>> result =
        ::ternserve::testing::RunToCompletion(argv, profile_path_ + ".out");
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : std::make_pair(-1, std::string());
  }

  std::string profile_path_;
};

TEST_F(SimMainTest, PrintsDeterministicJson) {
  const std::vector<std::string> flags = {"--profile=" + profile_path_,
                                          "--trace=gamma:rate=2000,cv2=4,duration=5",
                                          "--policy=slackfit",
                                          "--workers=2",
                                          "--slo_ms=25",
                                          "--seed=3",
                                          "--json"};
  const auto [code, out] = Sim(flags);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json json = nlohmann::json::parse(out);
  EXPECT_GT(json.at("requests").get<int>(), 5000);
  EXPECT_GT(json.at("slo_attainment").get<double>(), 0.99);
  EXPECT_TRUE(json.at("subnet_mix").is_object());
  EXPECT_EQ(Sim(flags).second, out);
}

TEST_F(SimMainTest, ReserveAndOutsideTimeReachTheSimulator) {
  std::vector<std::string> flags = {"--profile=" + profile_path_,
                                    "--trace=poisson:rate=100,duration=5", "--slo_ms=25", "--json"};
  const auto [base_code, base_out] = Sim(flags);
  ASSERT_EQ(base_code, 0) << base_out;
  flags.insert(flags.end(), {"--slo_reserve_ms=5", "--outside_p50_ms=3", "--outside_p99_ms=3"});
  const auto [code, out] = Sim(flags);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json base = nlohmann::json::parse(base_out);
  const nlohmann::json json = nlohmann::json::parse(out);
  EXPECT_EQ(json.at("slo_reserve_ms"), 5.0);
  EXPECT_EQ(json.at("outside_p50_ms"), 3.0);
  EXPECT_EQ(json.at("outside_p99_ms"), 3.0);
  EXPECT_EQ(base.at("outside_p50_ms"), 0.0);
  // A constant 3 ms outside the server lengthens the median latency by about that much.
  EXPECT_GT(json.at("p50_ms").get<double>(), base.at("p50_ms").get<double>() + 2);
}

TEST_F(SimMainTest, ReplayReportsTheDecisionsAndBothAttainments) {
  // Two requests, each run alone on ladder sub-net 15 (what slackfit picks with 30 ms of slack),
  // both in time.
  ScheduleLog log;
  log.policy = "slackfit";
  log.requests = {{0, 0, 30000000}, {50000000, 50000000, 80000000}};
  log.batches = {{0, 0, 2400000, 2400000, 15, 1, 1, false},
                 {50000000, 50000000, 52400000, 52400000, 15, 1, 1, false}};
  const std::string path = profile_path_ + ".log";
  ASSERT_TRUE(SaveScheduleLog(log, path).ok());
  const auto [code, out] = Sim({"--profile=" + profile_path_, "--replay=" + path, "--json"});
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json json = nlohmann::json::parse(out);
  EXPECT_EQ(json["decisions_compared"], 2);
  EXPECT_EQ(json["decisions_matched"], 2);
  EXPECT_EQ(json["first_mismatch"], -1);
  EXPECT_EQ(json["server_attainment"], 1.0);
  EXPECT_EQ(json["sim_attainment"], 1.0);
}

TEST_F(SimMainTest, BadFlagsExit2AndBadFilesExit1) {
  const std::string profile = "--profile=" + profile_path_;
  const std::string trace = "--trace=poisson:rate=10,duration=1";
  const std::vector<std::vector<std::string>> usage_errors = {
      {profile},                              // no --trace
      {trace},                                // no --profile
      {profile, "--trace=poisson:rate=10"},   // bad spec
      {profile, trace, "--policy=edf"},       // unknown policy
      {profile, trace, "--policy=fixed:99"},  // not in the profile
      {profile, trace, "--workers=0"},
      {profile, trace, "--workers=two"},
      {profile, trace, "--slo_ms=-1"},
      {profile, trace, "--late=never"},
      {profile, trace, "--slo_ms=10", "--slo_reserve_ms=10"},  // all of the SLO
      {profile, trace, "--slo_reserve_ms=-1"},
      {profile, trace, "--outside_p50_ms=2", "--outside_p99_ms=1"},
      {profile, trace, "--outside_p50_ms=-1"},
      {profile, trace, "--speed=step:at=1"},  // no factor
      {profile, trace, "--speed=warp"},
      {profile, trace, "--adapt_latency=maybe"},
      {profile, trace, "--no_such_flag=1"},
      {profile, trace, "positional"}};
  for (const auto& flags : usage_errors) {
    EXPECT_EQ(Sim(flags).first, 2) << absl::StrJoin(flags, " ");
  }
  EXPECT_EQ(Sim({"--profile=/nonexistent.json", trace}).first, 1);
  EXPECT_EQ(Sim({profile, "--trace=file:/nonexistent.txt"}).first, 1);
  EXPECT_EQ(Sim({profile, trace, "--speed=file:/nonexistent.txt"}).first, 1);
  EXPECT_EQ(Sim({profile, trace, "--replay=/nonexistent.log"}).first, 2);  // --trace too
  EXPECT_EQ(Sim({profile, "--replay=/nonexistent.log"}).first, 1);
  const std::string not_a_log = profile_path_ + ".notalog";
  ASSERT_TRUE(SaveLatencyProfile(LadderProfile(), not_a_log).ok());
  EXPECT_EQ(Sim({profile, "--replay=" + not_a_log}).first, 1);
  EXPECT_EQ(Sim({"--help"}).first, 0);
}

}  // namespace
}  // namespace ternserve
