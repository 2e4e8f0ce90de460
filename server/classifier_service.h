// ClassifierService: the ternserve.v1.Classifier gRPC service, on gRPC's callback API, with raw
// methods (server/raw_rpc.h): requests are parsed here, so bytes that are not a request get
// INVALID_ARGUMENT.
//
// Handlers never block: they validate and hand the image to the RequestSubmitter with a callback
// that finishes the RPC (or writes the stream response). The dispatcher's worker threads run the
// completions. A call whose client cancels (or whose gRPC deadline passes) while its image is
// queued is taken out of the queue and answered CANCELLED.
//
// Ownership: the service borrows the current model and the submitter; both must outlive the
// grpc::Server that serves it, and the dispatcher must be drained (every callback run) before the
// service is destroyed. Thread-safe: gRPC calls the handlers concurrently; the service's own state
// is constant.
#ifndef TERNSERVE_SERVER_CLASSIFIER_SERVICE_H_
#define TERNSERVE_SERVER_CLASSIFIER_SERVICE_H_

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "models/bundle.h"
#include "scheduler/latency_profile.h"
#include "server/request_submitter.h"
#include "server/request_validation.h"
#include "server/served_model.h"
#include "ternserve/v1/classifier.grpc.pb.h"

namespace ternserve {

struct ClassifierServiceOptions {
  ValidationLimits limits;
  // Reported by GetModelInfo (with the current model's policy).
  std::string engine;  // e.g. "ternary"
};

// Every method raw: the request arrives as bytes.
using ClassifierRawService = v1::Classifier::WithRawCallbackMethod_Classify<
    v1::Classifier::WithRawCallbackMethod_ClassifyStream<
        v1::Classifier::WithRawCallbackMethod_GetModelInfo<v1::Classifier::Service>>>;

class ClassifierService final : public ClassifierRawService {
 public:
  // The submitter's clock must be the wall clock (or agree with it): gRPC deadlines are compared
  // against its Now(). GetModelInfo describes `model`'s current model (its bundle and latency
  // profile); an answer, the bundle that computed it.
  ClassifierService(const ClassifierServiceOptions& options, const CurrentModel* model,
                    const RequestSubmitter* submitter);

  // Each parses its request (a v1::ClassifyRequest, a stream of them, a v1::GetModelInfoRequest)
  // from `request`, and writes its response (v1::ClassifyResponse, v1::ModelInfo) serialized.
  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ClassifyStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;

  using AnswerCallback = absl::AnyInvocable<void(absl::StatusOr<v1::ClassifyResponse>)>;

  // Validates `request` and queues it; `on_done` gets the finished response (status OK) or the
  // reason it was refused or failed. Called exactly once, possibly before Submit returns.
  // `request` must stay valid until then (its pixels are read in place); `on_done` may own it.
  // Used by both RPCs. `cancelled` (may be null): the flag the RPC's reactor sets when the client
  // gives up.
  void Submit(const v1::ClassifyRequest& request, absl::Time grpc_deadline, AnswerCallback on_done,
              CancelFlag cancelled = nullptr);

 private:
  class StreamReactor;

  void FillModelInfo(v1::ModelInfo* response) const;

  // Constant after construction.
  const ClassifierServiceOptions options_;
  const CurrentModel* const model_;
  const RequestSubmitter* const submitter_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_CLASSIFIER_SERVICE_H_
