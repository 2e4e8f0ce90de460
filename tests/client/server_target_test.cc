// Server targets (client/server_target.h): parsing the --server flag, and the service config every
// client channel gets, also handed to a real gRPC channel, which must pick round_robin from it.
#include "client/server_target.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <chrono>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

TEST(ParseServerTargetTest, OneServerIsPassedOnAsIs) {
  for (const char* spec : {"127.0.0.1:8001", "localhost:8001", "[::1]:8001", "ternserve:8001"}) {
    absl::StatusOr<ServerTarget> target = ParseServerTarget(spec);
    ASSERT_TRUE(target.ok()) << spec << ": " << target.status();
    EXPECT_EQ(target->uri, spec);
    EXPECT_EQ(target->listed_addresses, 1);
    EXPECT_FALSE(target->replicated());
  }
}

TEST(ParseServerTargetTest, AListBecomesAnIpv4OrIpv6Target) {
  absl::StatusOr<ServerTarget> v4 =
      ParseServerTarget("127.0.0.1:8001, 127.0.0.1:8002,10.1.2.3:65535");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->uri, "ipv4:127.0.0.1:8001,127.0.0.1:8002,10.1.2.3:65535");
  EXPECT_EQ(v4->listed_addresses, 3);
  EXPECT_TRUE(v4->replicated());

  absl::StatusOr<ServerTarget> v6 = ParseServerTarget("[::1]:8001,[fe80::1]:8002");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->uri, "ipv6:[::1]:8001,[fe80::1]:8002");
  EXPECT_EQ(v6->listed_addresses, 2);
}

TEST(ParseServerTargetTest, UrisArePassedOnWithWhatTheyList) {
  absl::StatusOr<ServerTarget> dns = ParseServerTarget("dns:///ternserve.default.svc:8001");
  ASSERT_TRUE(dns.ok());
  EXPECT_EQ(dns->uri, "dns:///ternserve.default.svc:8001");
  EXPECT_EQ(dns->listed_addresses, 0);  // the resolver's word
  EXPECT_TRUE(dns->replicated());

  absl::StatusOr<ServerTarget> ipv4 = ParseServerTarget("ipv4:127.0.0.1:1,127.0.0.1:2");
  ASSERT_TRUE(ipv4.ok());
  EXPECT_EQ(ipv4->uri, "ipv4:127.0.0.1:1,127.0.0.1:2");
  EXPECT_EQ(ipv4->listed_addresses, 2);

  absl::StatusOr<ServerTarget> unix_socket = ParseServerTarget("unix:/run/ternserve.sock");
  ASSERT_TRUE(unix_socket.ok());
  EXPECT_FALSE(unix_socket->replicated());
}

TEST(ParseServerTargetTest, RefusesWhatCannotBeATarget) {
  struct Case {
    const char* spec;
    const char* says;
  };
  for (const Case& c : {
           Case{"", "empty"},
           Case{"  ", "empty"},
           Case{"127.0.0.1:8001,", "an empty entry"},
           Case{"127.0.0.1:8001,,127.0.0.1:8002", "an empty entry"},
           Case{"127.0.0.1:8001,127.0.0.1", "'127.0.0.1' has no port"},
           Case{"127.0.0.1:8001,127.0.0.1:", "has no port"},
           Case{"127.0.0.1:0,127.0.0.1:8002", "the port must be a number in [1, 65535]"},
           Case{"127.0.0.1:70000,127.0.0.1:8002", "the port must be a number in [1, 65535]"},
           Case{"127.0.0.1:80x1,127.0.0.1:8002", "the port must be a number"},
           Case{"ternserve-0:8001,ternserve-1:8001", "for a name use \"dns:///name:port\""},
           Case{"127.0.0.1:8001,[::1]:8002", "IPv4 and IPv6 addresses in one list"},
           Case{"[::1:8001,[::1]:8002", "is not an IP address and port"},
       }) {
    absl::StatusOr<ServerTarget> target = ParseServerTarget(c.spec);
    ASSERT_FALSE(target.ok()) << "'" << c.spec << "' was accepted as " << target->uri;
    EXPECT_EQ(target.status().code(), absl::StatusCode::kInvalidArgument) << c.spec;
    EXPECT_THAT(std::string(target.status().message()), HasSubstr(c.says)) << c.spec;
    EXPECT_THAT(std::string(target.status().message()), HasSubstr(std::string("'") + c.spec))
        << "the message quotes the target";
  }
}

TEST(ClientServiceConfigTest, RoundRobinWithRetriesOnUnavailableForBothApis) {
  const nlohmann::json config = nlohmann::json::parse(ClientServiceConfig(3, true));
  EXPECT_EQ(config["loadBalancingConfig"], nlohmann::json::parse(R"([{"round_robin":{}}])"));
  EXPECT_EQ(config["healthCheckConfig"]["serviceName"], "");
  ASSERT_EQ(config["methodConfig"].size(), 1u);
  const nlohmann::json& method = config["methodConfig"][0];
  EXPECT_EQ(method["name"], nlohmann::json::parse(R"([{"service":"ternserve.v1.Classifier"},
                                                      {"service":"inference.GRPCInferenceService"}])"));
  const nlohmann::json& retry = method["retryPolicy"];
  EXPECT_EQ(retry["maxAttempts"], 3);
  EXPECT_EQ(retry["retryableStatusCodes"], nlohmann::json::parse(R"(["UNAVAILABLE"])"));
  EXPECT_EQ(retry["initialBackoff"], "0.005s");
  EXPECT_EQ(retry["maxBackoff"], "0.05s");
}

TEST(ClientServiceConfigTest, OneAttemptHasNoRetryPolicyAndOneServerNoHealthChecking) {
  const nlohmann::json config = nlohmann::json::parse(ClientServiceConfig(1, false));
  EXPECT_TRUE(config.contains("loadBalancingConfig"));
  EXPECT_FALSE(config.contains("methodConfig"));
  EXPECT_FALSE(config.contains("healthCheckConfig"));
}

// The policy a channel to two addresses ends up with, once its resolver has run (or `wait` is up:
// a channel that refused its config never changes state).
std::string PolicyOf(const std::string& service_config,
                     std::chrono::seconds wait = std::chrono::seconds(10)) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(service_config);
  auto channel = grpc::CreateCustomChannel("ipv4:127.0.0.1:1,127.0.0.1:2",
                                           grpc::InsecureChannelCredentials(), args);
  channel->GetState(/*try_to_connect=*/true);
  channel->WaitForStateChange(GRPC_CHANNEL_IDLE, std::chrono::system_clock::now() + wait);
  return channel->GetLoadBalancingPolicyName();
}

TEST(ClientServiceConfigTest, GrpcAcceptsTheConfig) {
  for (int attempts : {1, 3, kMaxCallAttempts}) {
    for (bool health : {false, true}) {
      EXPECT_EQ(PolicyOf(ClientServiceConfig(attempts, health)), "round_robin")
          << "attempts " << attempts << ", health " << health;
    }
  }
  // The check can fail: gRPC's default policy, and none for a config it cannot parse.
  EXPECT_EQ(PolicyOf("{}"), "pick_first");
  EXPECT_NE(PolicyOf(R"({"loadBalancingConfig":[{"round_robin":{}}],"methodConfig":[)",
                     std::chrono::seconds(1)),
            "round_robin");
}

}  // namespace
}  // namespace ternserve
