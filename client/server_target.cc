// Client targets and their service config. See server_target.h.
#include "client/server_target.h"

#include <arpa/inet.h>
#include <grpc/grpc.h>

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ternserve {
namespace {

enum class Family { kIpv4, kIpv6 };

absl::Status BadTarget(absl::string_view spec, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("server target '", spec, "': ", why));
}

// One entry of a list, "a.b.c.d:port" or "[v6]:port": its family, or why it is not one.
absl::StatusOr<Family> ParseListEntry(absl::string_view entry) {
  const size_t colon = entry.rfind(':');
  if (colon == absl::string_view::npos || colon + 1 == entry.size()) {
    return absl::InvalidArgumentError(absl::StrCat("'", entry, "' has no port"));
  }
  int port = 0;
  if (!absl::SimpleAtoi(entry.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", entry, "': the port must be a number in [1, 65535]"));
  }
  absl::string_view host = entry.substr(0, colon);
  unsigned char address[16];
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    const std::string inside(host.substr(1, host.size() - 2));
    if (inet_pton(AF_INET6, inside.c_str(), address) == 1) return Family::kIpv6;
  } else if (inet_pton(AF_INET, std::string(host).c_str(), address) == 1) {
    return Family::kIpv4;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", entry,
                   "' is not an IP address and port (a list takes IP literals, \"10.0.0.1:8001\" "
                   "or \"[::1]:8001\"; for a name use \"dns:///name:port\")"));
}

// Whether `spec` starts with a gRPC URI scheme the client knows ("dns:", "ipv4:", ...), or
// any scheme followed by "//" ("xds:///name").
bool IsUri(absl::string_view spec) {
  for (absl::string_view scheme : {"dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:"}) {
    if (absl::StartsWith(spec, scheme)) return true;
  }
  const size_t colon = spec.find(':');
  return colon != absl::string_view::npos && spec.substr(colon + 1, 2) == "//";
}

}  // namespace

absl::StatusOr<ServerTarget> ParseServerTarget(absl::string_view spec) {
  if (absl::StripAsciiWhitespace(spec).empty()) return BadTarget(spec, "empty");
  ServerTarget target;
  if (IsUri(spec)) {
    target.uri = std::string(spec);
    if (absl::StartsWith(spec, "ipv4:") || absl::StartsWith(spec, "ipv6:")) {
      target.listed_addresses = 1 + static_cast<int>(std::count(spec.begin(), spec.end(), ','));
    } else if (absl::StartsWith(spec, "unix")) {
      target.listed_addresses = 1;
    } else {
      target.listed_addresses = 0;  // a resolver's word
    }
    return target;
  }
  if (!absl::StrContains(spec, ',')) {
    target.uri = std::string(absl::StripAsciiWhitespace(spec));
    return target;
  }
  std::vector<std::string> entries;
  Family family = Family::kIpv4;
  for (absl::string_view raw : absl::StrSplit(spec, ',')) {
    absl::string_view entry = absl::StripAsciiWhitespace(raw);
    if (entry.empty()) return BadTarget(spec, "an empty entry in the list");
    absl::StatusOr<Family> parsed = ParseListEntry(entry);
    if (!parsed.ok()) return BadTarget(spec, parsed.status().message());
    if (!entries.empty() && *parsed != family) {
      return BadTarget(spec, "IPv4 and IPv6 addresses in one list (gRPC takes one family)");
    }
    family = *parsed;
    entries.emplace_back(entry);
  }
  target.uri =
      absl::StrCat(family == Family::kIpv4 ? "ipv4:" : "ipv6:", absl::StrJoin(entries, ","));
  target.listed_addresses = static_cast<int>(entries.size());
  return target;
}

std::string ClientServiceConfig(int max_attempts, bool health_check) {
  std::string config = R"({"loadBalancingConfig":[{"round_robin":{}}])";
  if (health_check) config += R"(,"healthCheckConfig":{"serviceName":""})";
  if (max_attempts >= 2) {
    absl::StrAppendFormat(
        &config,
        R"(,"methodConfig":[{"name":[{"service":"ternserve.v1.Classifier"},)"
        R"({"service":"inference.GRPCInferenceService"}],"retryPolicy":{"maxAttempts":%d,)"
        R"("initialBackoff":"0.005s","maxBackoff":"0.05s","backoffMultiplier":2,)"
        R"("retryableStatusCodes":["UNAVAILABLE"]}}])",
        max_attempts);
  }
  config += "}";
  return config;
}

void ApplyClientServiceConfig(const ServerTarget& target, int max_attempts,
                              grpc::ChannelArguments* args) {
  args->SetServiceConfigJSON(ClientServiceConfig(max_attempts, target.replicated()));
  if (max_attempts < 2) args->SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
}

}  // namespace ternserve
