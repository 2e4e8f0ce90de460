// ClassifierClient: a small synchronous client for a Ternserve server: Classify (unary),
// ClassifyStream (a batch of requests over one stream), GetModelInfo and the standard health check.
// gRPC statuses come back as absl::Status with the same code and message. TLS and the bearer token
// come from a ClientSecurity (client/channel.h).
//
// Thread-safe: one client may be shared by threads (gRPC channels and stubs are thread-safe).
#ifndef TERNSERVE_CLIENT_CLASSIFIER_CLIENT_H_
#define TERNSERVE_CLIENT_CLASSIFIER_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "ternserve/v1/classifier.grpc.pb.h"

namespace ternserve {

// gRPC -> absl status (the codes share the google.rpc.Code numbering).
absl::Status FromGrpcStatus(const grpc::Status& status);

class ClassifierClient {
 public:
  // `target` is a server target (client/server_target.h): "127.0.0.1:8001", a list of replicas
  // "127.0.0.1:8001,127.0.0.1:8002", or "dns:///host:port". Calls go round-robin over the
  // replicas that are serving and a call answered UNAVAILABLE is retried on another, up to
  // kDefaultCallAttempts in all. Connects lazily, with `security`'s credentials; every call
  // carries its token, if any. INVALID_ARGUMENT for a target ParseServerTarget refuses.
  static absl::StatusOr<std::unique_ptr<ClassifierClient>> Create(
      const std::string& target, const ClientSecurity& security = ClientSecurity());

  // The whole call (queue + compute + network) must finish within `timeout` (the gRPC deadline).
  absl::StatusOr<v1::ClassifyResponse> Classify(const v1::ClassifyRequest& request,
                                                absl::Duration timeout) const;
  // Sends every request on one ClassifyStream and returns the responses in completion order; each
  // carries its request_id and its own status. Fails only if the stream itself fails.
  absl::StatusOr<std::vector<v1::ClassifyResponse>> ClassifyStream(
      const std::vector<v1::ClassifyRequest>& requests, absl::Duration timeout) const;
  absl::StatusOr<v1::ModelInfo> GetModelInfo(absl::Duration timeout) const;
  // grpc.health.v1.Health/Check for `service` ("" = the whole server): "SERVING", "NOT_SERVING",
  // ...
  absl::StatusOr<std::string> CheckHealth(absl::Duration timeout,
                                          const std::string& service = "") const;

  const std::string& target() const { return target_; }

 private:
  ClassifierClient(std::string target, const ClientSecurity& security,
                   std::shared_ptr<grpc::Channel> channel);

  // A call's context: its deadline and the token.
  void PrepareContext(grpc::ClientContext* context, absl::Duration timeout) const;

  // Constant after construction.
  const std::string target_;
  const ClientSecurity security_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Classifier::Stub> classifier_;
  const std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_CLASSIFIER_CLIENT_H_
