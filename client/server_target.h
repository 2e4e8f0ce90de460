// Where a client sends its calls, and how it spreads them over replicas: the --server flag of
// ternserve-cli and ternserve-loadgen, and ClassifierClient's target.
//
// A target is one of
//   host:port                        one server ("127.0.0.1:8001", "[::1]:8001", "ternserve:8001");
//   addr:port,addr:port,...          several replicas, as IP literals ("127.0.0.1:8001,
//                                    127.0.0.1:8002"); becomes gRPC's "ipv4:" (or "ipv6:") target;
//   dns:///name:port                 every address the name resolves to: on Kubernetes, a headless
//                                    Service's pods (deploy/k8s/);
//   any other gRPC target URI        ipv4:, ipv6:, unix:, ..., passed on as is.
//
// Every channel then picks a replica per call with gRPC's round_robin (pick_first, gRPC's default,
// would send everything to the first address); with several replicas it leaves out one whose
// health service (grpc.health.v1, which ternserve turns NOT_SERVING when it starts to drain) says
// it is not serving; and it retries a call answered UNAVAILABLE (a draining replica's refusal, a
// connection that broke before the answer) on another replica, up to max_attempts in all.
// Classification is idempotent, so a retried request is answered once, as if sent once.
//
// Per-request balancing needs a call per request: a stream (ClassifyStream, ModelStreamInfer)
// stays on the replica it was opened on, and fails with it.
//
// Pure functions; thread-safe.
#ifndef TERNSERVE_CLIENT_SERVER_TARGET_H_
#define TERNSERVE_CLIENT_SERVER_TARGET_H_

#include <grpcpp/support/channel_arguments.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

struct ServerTarget {
  // What grpc::CreateChannel takes.
  std::string uri;
  // The addresses listed (1 for host:port); 0 when a resolver finds them (dns:, unix: ...).
  int listed_addresses = 1;
  // Whether calls may go to more than one server: a list, or a name a resolver expands.
  bool replicated() const { return listed_addresses != 1; }
};

// Parses a target as above. INVALID_ARGUMENT quoting it for an empty one, an empty entry, an
// entry without a port (or with a port outside [1, 65535]), a host name in a list (a list takes IP
// literals; a name goes through DNS, "dns:///name:port"), or IPv4 and IPv6 mixed in one list.
absl::StatusOr<ServerTarget> ParseServerTarget(absl::string_view spec);

// The most attempts gRPC makes of one call (it caps a retry policy's maxAttempts at 5).
inline constexpr int kMaxCallAttempts = 5;
// The attempts ClassifierClient and ternserve-cli make: a retry for a replica that was draining or
// went away, and one more.
inline constexpr int kDefaultCallAttempts = 3;

// The service config of every client channel: round_robin; with `health_check`, client-side
// health checking (a replica leaves the rotation while its grpc.health.v1 status is not SERVING);
// and for max_attempts >= 2 a retry policy for UNAVAILABLE on both APIs' services
// (ternserve.v1.Classifier, inference.GRPCInferenceService): max_attempts attempts, backoff from
// 5 ms up to 50 ms (an SLO is tens of ms: a retry must come soon to be of use). max_attempts in
// [1, kMaxCallAttempts].
std::string ClientServiceConfig(int max_attempts, bool health_check);

// Adds the service config for `target` to `args`: health checking only for a replicated target
// (with one server there is nothing to choose, and a client asking a NOT_SERVING server for its
// health must still reach it). With max_attempts 1 it also turns gRPC's retries off altogether (no
// per-call buffering of the request for a replay that will not come).
void ApplyClientServiceConfig(const ServerTarget& target, int max_attempts,
                              grpc::ChannelArguments* args);

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_SERVER_TARGET_H_
