// ternserve-cli's channel flags (client/cli_main.cc with client/channel_flags.h): every command
// takes them, bad values are usage errors naming the flag, and the token is never printed. No
// server is needed: each case fails, or is refused, before or at the connection.
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A scratch path of this test's own: ctest runs the tests of this file concurrently.
std::string ScratchPath(const std::string& name) {
  return ::testing::TempDir() + "/cli_main_test_" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + name;
}

std::string WriteFile(const std::string& name, const std::string& contents) {
  const std::string path = ScratchPath(name);
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

// Runs ternserve-cli with `args`; returns (exit code, stdout and stderr merged).
std::pair<int, std::string> RunCli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", TERNSERVE_CLI_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = testing::RunToCompletion(argv, ScratchPath("out"), absl::Seconds(30));
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : std::make_pair(-100, std::string());
}

TEST(CliMainTest, BadChannelFlagsExit2NamingTheFlag) {
  const std::string comments = WriteFile("comments", "# no token here\n\n");
  const std::string not_pem = WriteFile("not_pem", "hello\n");
  const struct {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"info", "--tls_ca=" + not_pem, "--tls_cert=" + not_pem}, "--tls_cert needs --tls_key"},
      {{"health", "--tls_key=k"}, "--tls_key needs --tls_cert"},
      {{"info", "--tls_server_name=host"}, "--tls_server_name needs --tls_ca"},
      {{"info", "--tls_ca=/nonexistent/ca.pem"}, "--tls_ca: cannot open /nonexistent/ca.pem"},
      {{"health", "--tls_ca=" + not_pem}, "holds no PEM '-----BEGIN CERTIFICATE-----' block"},
      {{"classify", "--idx=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
        "--index=0", "--auth_token_file=" + comments},
       "--auth_token_file: "},
      {{"info", "--auth_token_file"}, "--auth_token_file needs a value"},
  };
  for (const auto& c : cases) {
    const auto [code, out] = RunCli(c.args);
    EXPECT_EQ(code, 2) << c.message << ": " << out;
    EXPECT_THAT(out, HasSubstr(c.message));
  }
}

TEST(CliMainTest, EveryCommandListsTheChannelFlags) {
  for (const char* command : {"classify", "info", "health"}) {
    const auto [code, out] = RunCli({command, "--help"});
    EXPECT_EQ(code, 0) << command;
    for (const char* flag :
         {"--tls_ca ", "--tls_cert ", "--tls_key ", "--tls_server_name ", "--auth_token_file "}) {
      EXPECT_THAT(out, HasSubstr(flag)) << command;
    }
  }
}

TEST(CliMainTest, TheTokenIsNeverPrinted) {
  // A port nothing listens on (1 is privileged and unused here): the call fails UNAVAILABLE.
  const std::string token = WriteFile("token", "# ours\r\nsup3rsecret-t0ken\r\n");
  const auto [code, out] =
      RunCli({"info", "--server=127.0.0.1:1", "--timeout_ms=2000", "--auth_token_file=" + token});
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(out, Not(HasSubstr("sup3rsecret")));
}

}  // namespace
}  // namespace ternserve
