// ternserve-train's command line (models/train_main.cc): --help lists the trainer's flags, and
// every usage error exits 2 with a message, before any data is read.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace ternserve {
namespace {

// Runs ternserve-train with `flags`; returns (exit code, stdout).
std::pair<int, std::string> Train(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {std::string(TERNSERVE_BINARY_DIR) + "/bin/ternserve-train"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<std::pair<int, std::string>> result = ::ternserve::testing::RunToCompletion(
      argv, absl::StrCat(::testing::TempDir(), "/train_main.",
                         ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".out"));
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : std::make_pair(-1, std::string());
}

TEST(TrainMainTest, HelpListsTheTrainersFlags) {
  const auto [code, out] = Train({"--help"});
  EXPECT_EQ(code, 0);
  for (const char* flag : {"--out", "--quantizer", "--tga_scope", "--resume", "--export_from"}) {
    EXPECT_NE(out.find(absl::StrCat("  ", flag, " (default: ")), std::string::npos) << flag;
  }
  // The shipped model's TGA scope is the default, so its command needs no --tga_scope.
  EXPECT_NE(out.find("  --tga_scope (default: channel_sigma)"), std::string::npos);
}

TEST(TrainMainTest, UsageErrorsExit2) {
  const std::string out = "--out=" + ::testing::TempDir() + "/train_main.tsn";
  const std::vector<std::vector<std::string>> usage_errors = {
      {out, "--no_such_flag=1"},   {out, "--epochs=x"},
      {out, "--epochs=0"},         {out, "--quantizer=ttq"},
      {out, "--tga_scope=tensor"}, {out, "--sca_a=3"},
      {out, "--warmup_epochs=9"},  {"--epochs=1"},
      {out, "positional"}};
  for (const auto& flags : usage_errors) {
    EXPECT_EQ(Train(flags).first, 2) << absl::StrJoin(flags, " ");
  }
}

}  // namespace
}  // namespace ternserve
