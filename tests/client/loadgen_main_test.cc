// End-to-end tests of ternserve-loadgen (client/loadgen_main.cc) against ternserve-echo
// (bench/echo_server.cc): a real open-loop run, usage errors, an unreachable server, and three
// replicas behind one --server list (round_robin; one replica down).
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/loadgen_report_fields.h"
#include "tests/testing/subprocess.h"

namespace ternserve {
namespace {

using ::ternserve::testing::RunToCompletion;
using ::ternserve::testing::Subprocess;
using ::testing::HasSubstr;

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class LoadgenMainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = absl::StrCat(::testing::TempDir(), "/ternserve_loadgen_XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }

  // Starts ternserve-echo (as `echo`, by default echo_) on a free port; returns "127.0.0.1:PORT".
  std::string StartEcho(Subprocess* echo = nullptr) {
    if (echo == nullptr) echo = &echo_;
    const std::string port_file = absl::StrCat(dir_, "/echo.", reinterpret_cast<uintptr_t>(echo));
    EXPECT_TRUE(echo->Start({TERNSERVE_ECHO_BIN, "--port=0", "--port_file=" + port_file}).ok());
    const absl::Time give_up = absl::Now() + absl::Seconds(5);
    std::string port;
    while ((port = ReadSmallFile(port_file)).empty() && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_FALSE(port.empty()) << "ternserve-echo wrote no port file";
    while (!port.empty() && port.back() == '\n') port.pop_back();
    return absl::StrCat("127.0.0.1:", port);
  }

  // Runs ternserve-loadgen with `args`; returns (exit code, stdout and stderr merged).
  std::pair<int, std::string> RunLoadgen(const std::vector<std::string>& args,
                                         bool merge_stderr = true) {
    std::vector<std::string> argv = {
        "/bin/sh", "-c", merge_stderr ? "exec \"$0\" \"$@\" 2>&1" : "exec \"$0\" \"$@\"",
        TERNSERVE_LOADGEN_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    auto result = RunToCompletion(argv, dir_ + "/loadgen.out", absl::Seconds(30));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : std::make_pair(-100, std::string());
  }

  std::string dir_;
  Subprocess echo_;
};

TEST_F(LoadgenMainTest, OpenLoopRunAgainstEcho) {
  const std::string server = StartEcho();
  const auto [code, out] = RunLoadgen(
      {"--server=" + server, "--trace=poisson:rate=2000,duration=1", "--slo_ms=5000", "--json"},
      /*merge_stderr=*/false);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(json.is_object()) << "not one JSON object: " << out;
  for (const char* field : kLoadgenReportFields) {
    EXPECT_TRUE(json.contains(field)) << field;
  }
  const int64_t sent = json["sent"];
  // A Poisson count of mean 2000 (sd ~45): well inside +-10%.
  EXPECT_GT(sent, 1800);
  EXPECT_LT(sent, 2200);
  EXPECT_EQ(json["ok"], sent);
  EXPECT_TRUE(json["errors_by_code"].empty()) << json["errors_by_code"].dump();
  // A 5 s SLO against an echo: only a stall of seconds (not a busy CI machine) could miss it.
  EXPECT_GT(json["slo_attainment"].get<double>(), 0.99);
  EXPECT_EQ(json["connections"], 4);
  EXPECT_EQ(json["mode"], "unary");
  EXPECT_EQ(json["trace"], "poisson:rate=2000,duration=1");
  EXPECT_NEAR(json["offered_rps"].get<double>(), 2000, 200);
  // The echo always answers sub-net 5, class 9 ("Ankle boot"), claiming 90.12 %: so the measured
  // accuracy is the share of ankle boots among the images drawn (10 % of the test set).
  EXPECT_EQ(json["subnet_mix"], nlohmann::json({{"5", 1.0}}));
  EXPECT_NEAR(json["expected_accuracy"].get<double>(), 0.9012, 1e-6);
  EXPECT_NEAR(json["measured_accuracy"].get<double>(), 0.10, 0.04);
  EXPECT_EQ(json["server_deadline_met"], 1.0);
  EXPECT_NEAR(json["server_compute_p50_ms"].get<double>(), 0.45, 1e-9);
  EXPECT_GT(json["p50_ms"].get<double>(), 0);
  EXPECT_LE(json["p50_ms"].get<double>(), json["p99_ms"].get<double>());
  // Throughput is what was answered over the span from the first send to the last answer.
  EXPECT_NEAR(json["throughput_rps"].get<double>(),
              json["ok"].get<double>() / json["duration_s"].get<double>(), 1e-6);

  echo_.Signal(SIGTERM);
  absl::StatusOr<int> echo_exit = echo_.Wait(absl::Seconds(5));
  ASSERT_TRUE(echo_exit.ok()) << echo_exit.status();
  EXPECT_EQ(*echo_exit, 0);
}

TEST_F(LoadgenMainTest, StreamModeMatchesEveryAnswerToItsRequest) {
  const std::string server = StartEcho();
  const auto [code, out] = RunLoadgen({"--server=" + server, "--trace=poisson:rate=3000,duration=1",
                                       "--slo_ms=5000", "--stream", "--connections=3", "--json"},
                                      /*merge_stderr=*/false);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(json.is_object()) << "not one JSON object: " << out;
  EXPECT_EQ(json["mode"], "stream");
  EXPECT_EQ(json["connections"], 3);
  const int64_t sent = json["sent"];
  EXPECT_GT(sent, 2700);  // Poisson, mean 3000
  EXPECT_LT(sent, 3300);
  // Every message answered, each matched by its request_id: none lost, none unmatched.
  EXPECT_EQ(json["ok"], sent);
  EXPECT_TRUE(json["errors_by_code"].empty()) << json["errors_by_code"].dump();
  EXPECT_EQ(json["subnet_mix"], nlohmann::json({{"5", 1.0}}));
  EXPECT_NEAR(json["expected_accuracy"].get<double>(), 0.9012, 1e-6);
  EXPECT_NEAR(json["measured_accuracy"].get<double>(), 0.10, 0.04);
  // A 5 s SLO against an echo: only a stall of seconds (not a busy CI machine) could miss it.
  EXPECT_GT(json["slo_attainment"].get<double>(), 0.99);
  EXPECT_GT(json["p50_ms"].get<double>(), 0);

  echo_.Signal(SIGTERM);
  absl::StatusOr<int> echo_exit = echo_.Wait(absl::Seconds(5));
  ASSERT_TRUE(echo_exit.ok()) << echo_exit.status();
  EXPECT_EQ(*echo_exit, 0);
}

TEST_F(LoadgenMainTest, HumanSummaryAndProgress) {
  const std::string server = StartEcho();
  const auto [code, out] =
      RunLoadgen({"--server=" + server, "--trace=poisson:rate=500,duration=1.2",
                  "--slo_mix=20:1,80:1", "--connections=2"});
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, HasSubstr(" s  sent "));  // the progress line
  EXPECT_THAT(out, HasSubstr(" in flight "));
  EXPECT_THAT(out, HasSubstr("over 2 connections (unary)"));
  EXPECT_THAT(out, HasSubstr("SLO attainment"));
  EXPECT_THAT(out, HasSubstr("sub-net mix: 5: 100.0%"));
}

TEST_F(LoadgenMainTest, UsageErrorsExit2NamingTheFlag) {
  const struct {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{"--trace=poisson:rate=10,duration=1", "--bogus=1"}, "unknown flag --bogus"},
      {{"--trace=poisson:rate=10,duration=1", "--connections=abc"}, "--connections=abc"},
      {{"--trace=poisson:rate=10,duration=1", "--connections=0"}, "--connections"},
      {{"--trace=poisson:rate=-1,duration=1"}, "--trace"},
      {{"--trace=zipf:rate=1"}, "--trace"},
      {{}, "--trace is required"},
      {{"--trace=poisson:rate=10,duration=1", "--slo_ms=0"}, "--slo_ms"},
      {{"--trace=poisson:rate=10,duration=1", "--slo_mix=25:x"}, "--slo_mix"},
      {{"--trace=poisson:rate=10,duration=1", "--slo_ms=5", "--slo_mix=25:1"}, "not both"},
      {{"--trace=poisson:rate=10,duration=1", "--timeout_ms=0"}, "--timeout_ms"},
      {{"--trace=poisson:rate=10,duration=1", "--api=grpc"}, "--api: 'grpc' is not"},
      {{"--trace=poisson:rate=10,duration=1", "--model_name=m"},
       "--model_name goes with --api=oip"},
      {{"--trace=poisson:rate=10,duration=1", "--tls_ca=/dev/null", "--tls_cert=/dev/null"},
       "--tls_cert needs --tls_key"},
      {{"--trace=poisson:rate=10,duration=1", "--tls_server_name=host"},
       "--tls_server_name needs --tls_ca"},
      {{"--trace=poisson:rate=10,duration=1", "--tls_ca=/nonexistent/ca.pem"},
       "--tls_ca: cannot open /nonexistent/ca.pem"},
      {{"--trace=poisson:rate=10,duration=1", "--auth_token_file=/nonexistent/token"},
       "--auth_token_file: cannot open /nonexistent/token"},
      {{"--trace=poisson:rate=10,duration=1", "--tls_ca"}, "--tls_ca needs a value"},
  };
  for (const auto& c : cases) {
    const auto [code, out] = RunLoadgen(c.args);
    EXPECT_EQ(code, 2) << c.message << ": " << out;
    EXPECT_THAT(out, HasSubstr(c.message));
  }
  const auto [help_code, help] = RunLoadgen({"--help"});
  EXPECT_EQ(help_code, 0);
  EXPECT_THAT(help, HasSubstr("--slo_mix"));
  EXPECT_THAT(help, HasSubstr("--connections (default: 4)"));
  EXPECT_THAT(help, HasSubstr("--api (default: ternserve)"));
  // The channel flags, defined in client/channel_flags.cc, are this binary's too.
  for (const char* flag : {"--tls_ca (", "--tls_cert (", "--tls_key (", "--tls_server_name (",
                           "--auth_token_file (", "--model_name ("}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
}

TEST_F(LoadgenMainTest, OipAgainstAServerWithoutItExits1) {
  // ternserve-echo serves ternserve.v1 only: the OIP start-up check is refused, not run into.
  const std::string server = StartEcho();
  const auto [code, out] =
      RunLoadgen({"--server=" + server, "--trace=poisson:rate=10,duration=1", "--api=oip"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, HasSubstr("refused the start-up check: UNIMPLEMENTED: RepositoryIndex"));
}

// "127.0.0.1:PORT" for a port nobody listens on: binds one, notes it, closes it.
std::string UnusedAddress() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
}

// The backend column of a --records CSV: requests per replica address ("" for none).
std::map<std::string, int> RequestsPerBackend(const std::string& csv) {
  std::map<std::string, int> counts;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_THAT(line, ::testing::EndsWith(",backend"));
  while (std::getline(in, line)) ++counts[line.substr(line.rfind(',') + 1)];
  return counts;
}

TEST_F(LoadgenMainTest, RoundRobinSpreadsRequestsOverThreeReplicas) {
  Subprocess second, third;
  const std::vector<std::string> replicas = {StartEcho(), StartEcho(&second), StartEcho(&third)};
  const std::string records = dir_ + "/records.csv";
  const auto [code, out] = RunLoadgen(
      {"--server=" + absl::StrJoin(replicas, ","), "--trace=poisson:rate=1500,duration=1",
       "--slo_ms=5000", "--json", "--records=" + records},
      /*merge_stderr=*/false);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(json.is_object()) << "not one JSON object: " << out;
  const int64_t sent = json["sent"];
  EXPECT_EQ(json["ok"], sent);
  EXPECT_EQ(json["max_attempts"], 3) << "replicas get retries by default";
  ASSERT_EQ(json["backends"].size(), 3u) << json["backends"].dump();
  std::set<std::string> addresses;
  for (const nlohmann::json& backend : json["backends"]) {
    addresses.insert(backend["address"].get<std::string>());
    // round_robin takes the replicas in turn on each connection: shares within +-15 %.
    EXPECT_NEAR(backend["answered"].get<double>(), sent / 3.0, 0.15 * sent / 3.0)
        << json["backends"].dump();
    EXPECT_EQ(backend["ok"], backend["answered"]);
  }
  for (const std::string& replica : replicas) {
    EXPECT_EQ(addresses.count("ipv4:" + replica), 1u) << replica << " answered nothing";
  }
  const std::map<std::string, int> per_backend = RequestsPerBackend(ReadSmallFile(records));
  EXPECT_EQ(per_backend.size(), 3u);
  for (const nlohmann::json& backend : json["backends"]) {
    EXPECT_EQ(per_backend.at(backend["address"].get<std::string>()), backend["answered"]);
  }
}

TEST_F(LoadgenMainTest, AReplicaThatIsDownIsLeftOut) {
  // One of three listed replicas is not there: its requests go to the others, none fails.
  Subprocess second;
  const std::string down = UnusedAddress();
  const std::vector<std::string> replicas = {StartEcho(), down, StartEcho(&second)};
  const auto [code, out] = RunLoadgen(
      {"--server=" + absl::StrJoin(replicas, ","), "--trace=poisson:rate=1000,duration=1",
       "--slo_ms=5000", "--json", "--max_attempts=1"},
      /*merge_stderr=*/false);
  ASSERT_EQ(code, 0) << out;
  const nlohmann::json json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(json.is_object()) << "not one JSON object: " << out;
  EXPECT_EQ(json["ok"], json["sent"]);
  EXPECT_TRUE(json["errors_by_code"].empty()) << json["errors_by_code"].dump();
  EXPECT_EQ(json["max_attempts"], 1);
  ASSERT_EQ(json["backends"].size(), 2u) << json["backends"].dump();
  for (const nlohmann::json& backend : json["backends"]) {
    EXPECT_NE(backend["address"], "ipv4:" + down);
  }
}

TEST_F(LoadgenMainTest, BadReplicaListsAreUsageErrors) {
  for (const auto& [server, message] : std::vector<std::pair<std::string, std::string>>{
           {"127.0.0.1:8001,", "--server: server target '127.0.0.1:8001,': an empty entry"},
           {"a:1,b:2", "is not an IP address and port"},
           {"127.0.0.1:8001,127.0.0.1", "has no port"}}) {
    const auto [code, out] =
        RunLoadgen({"--server=" + server, "--trace=poisson:rate=10,duration=1"});
    EXPECT_EQ(code, 2) << server << ": " << out;
    EXPECT_THAT(out, HasSubstr(message));
  }
  const auto [code, out] = RunLoadgen({"--trace=poisson:rate=10,duration=1", "--max_attempts=6"});
  EXPECT_EQ(code, 2) << out;
  EXPECT_THAT(out, HasSubstr("--max_attempts must be in [0, 5]"));
}

TEST_F(LoadgenMainTest, UnreachableServerExits1) {
  const std::string server = UnusedAddress();
  const auto [code, out] = RunLoadgen(
      {"--server=" + server, "--trace=poisson:rate=10,duration=1", "--connect_timeout_ms=1000"});
  EXPECT_EQ(code, 1) << out;
  EXPECT_THAT(out, HasSubstr("cannot reach the server at " + server));
}

}  // namespace
}  // namespace ternserve
