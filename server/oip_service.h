// OipService: the Open Inference Protocol (inference.GRPCInferenceService, docs/oip.md) on gRPC's
// callback API, beside ternserve.v1.Classifier on the same port and over the same request path.
//
// Every method is raw (server/raw_rpc.h): requests arrive as bytes and are parsed here, so bytes
// that are not the request message get INVALID_ARGUMENT. ModelInfer and ModelStreamInfer parse the
// request (server/oip_request.h) and hand its N images to the RequestSubmitter as one call; the
// answer is built when the last image is done, and a call whose client gives up while queued is
// taken out of the queue (CANCELLED). The metadata RPCs answer from constant state;
// ModelStatistics reads the InferenceStatistics.
//
// Ownership: borrows the current model, the submitter and the statistics; all must outlive the
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
#include "server/served_model.h"

namespace ternserve {

struct OipServiceOptions {
  ValidationLimits limits;
  OipModel model;
  // Reported by ModelConfig.
  int workers = 1;     // instance_group count
  int max_batch = 32;  // the largest batch the dispatcher forms
};

// Every method raw: the request arrives as bytes.
using OipGrpc = inference::GRPCInferenceService;
using OipRawService =
    OipGrpc::WithRawCallbackMethod_ServerLive<OipGrpc::WithRawCallbackMethod_ServerReady<
        OipGrpc::WithRawCallbackMethod_ModelReady<OipGrpc::WithRawCallbackMethod_ServerMetadata<
            OipGrpc::WithRawCallbackMethod_ModelMetadata<OipGrpc::WithRawCallbackMethod_ModelInfer<
                OipGrpc::WithRawCallbackMethod_ModelStreamInfer<
                    OipGrpc::WithRawCallbackMethod_ModelConfig<
                        OipGrpc::WithRawCallbackMethod_ModelStatistics<
                            OipGrpc::WithRawCallbackMethod_RepositoryIndex<
                                OipGrpc::Service>>>>>>>>>>;

class OipService final : public OipRawService {
 public:
  // `statistics` may be null (ModelStatistics then reports zeros). An answer's sub-net
  // accuracies come from the bundle that computed it, else from `model`'s current one; the model's
  // name and labels (options.model) stay as given, since a reload keeps the labels.
  OipService(const OipServiceOptions& options, const CurrentModel* model,
             const RequestSubmitter* submitter, const InferenceStatistics* statistics);

  // ServerReady and ModelReady: true once serving, false from the start of shutdown.
  void SetReady(bool ready) { ready_.store(ready, std::memory_order_relaxed); }

  // The RPCs, each on its request's bytes (inference.<Method>Request), answering its response
  // serialized (inference.<Method>Response; ModelStreamInfer: a stream of ModelInferRequest in,
  // ModelStreamInferResponse out).
  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelConfig(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* context,
                                            const grpc::ByteBuffer* request,
                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ModelStreamInfer(
      grpc::CallbackServerContext* context) override;

  using AnswerCallback = absl::AnyInvocable<void(absl::StatusOr<inference::ModelInferResponse>)>;
  // Parses `request` and queues its images; `on_done` gets the response or the reason there is
  // none, exactly once, possibly before Infer returns. `request` must stay valid until then.
  // `cancelled` (may be null): the flag the RPC's reactor sets when the client gives up.
  void Infer(const inference::ModelInferRequest& request, absl::Time grpc_deadline,
             AnswerCallback on_done, CancelFlag cancelled = nullptr);

 private:
  class StreamReactor;

  // The metadata RPCs' answers, on parsed requests.
  absl::Status AnswerModelMetadata(const inference::ModelMetadataRequest& request,
                                   inference::ModelMetadataResponse* response) const;
  absl::Status AnswerModelConfig(const inference::ModelConfigRequest& request,
                                 inference::ModelConfigResponse* response) const;
  absl::Status AnswerModelStatistics(const inference::ModelStatisticsRequest& request,
                                     inference::ModelStatisticsResponse* response) const;

  // Constant after construction.
  const OipServiceOptions options_;
  const CurrentModel* const model_;
  const RequestSubmitter* const submitter_;
  const InferenceStatistics* const statistics_;

  std::atomic<bool> ready_{false};
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_OIP_SERVICE_H_
