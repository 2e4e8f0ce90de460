// OipService: the Open Inference Protocol (inference.GRPCInferenceService, docs/oip.md) on gRPC's
// callback API, beside ternserve.v1.Classifier on the same port and over the same request path.
//
// ModelInfer and ModelStreamInfer parse the request (server/oip_request.h) and hand its N images to
// the RequestSubmitter as one call; the answer is built when the last image is done. The metadata
// RPCs answer from constant state; ModelStatistics reads the InferenceStatistics.
//
// Ownership: borrows the metadata, the submitter and the statistics; all must outlive the
// grpc::Server that serves it, and the dispatcher must be drained (every callback run) before the
// service is destroyed. Thread-safe: gRPC calls the handlers concurrently; the only mutable state
// is the readiness flag (atomic).
#ifndef TERNSERVE_SERVER_OIP_SERVICE_H_
#define TERNSERVE_SERVER_OIP_SERVICE_H_

#include <atomic>
#include <string>

#include "inference/grpc_service.grpc.pb.h"
#include "models/bundle.h"
#include "server/inference_statistics.h"
#include "server/oip_request.h"
#include "server/request_submitter.h"
#include "server/request_validation.h"

namespace ternserve {

struct OipServiceOptions {
  ValidationLimits limits;
  OipModel model;
  // Reported by ModelConfig.
  int workers = 1;     // instance_group count
  int max_batch = 32;  // the largest batch the dispatcher forms
};

class OipService final : public inference::GRPCInferenceService::CallbackService {
 public:
  // `statistics` may be null (ModelStatistics then reports zeros).
  OipService(const OipServiceOptions& options, const BundleMetadata* metadata,
             const RequestSubmitter* submitter, const InferenceStatistics* statistics);

  // ServerReady and ModelReady: true once serving, false from the start of shutdown.
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const inference::ModelConfigRequest* request,
                                        inference::ModelConfigResponse* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const inference::RepositoryIndexRequest* request,
                                            inference::RepositoryIndexResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override;
  grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
  ModelStreamInfer(grpc::CallbackServerContext* context) override;

  using AnswerCallback = absl::AnyInvocable<void(absl::StatusOr<inference::ModelInferResponse>)>;
  // Parses `request` and queues its images; `on_done` gets the response or the reason there is
  // none, exactly once, possibly before Infer returns. `request` must stay valid until then.
  void Infer(const inference::ModelInferRequest& request, absl::Time grpc_deadline,
             AnswerCallback on_done);

 private:
  class StreamReactor;

  // Authenticates the call and, when `name` is not null, checks the model name and version: the
  // call's reactor, already finished with the refusal, or null to go on.
  grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, const std::string* name,
                                   const std::string* version);

  // Constant after construction.
  const OipServiceOptions options_;
  const BundleMetadata* const metadata_;
  const RequestSubmitter* const submitter_;
  const InferenceStatistics* const statistics_;

  std::atomic<bool> ready_{false};
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_OIP_SERVICE_H_
