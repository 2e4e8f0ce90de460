// ClassifierService: the ternserve.v1.Classifier gRPC service, on gRPC's callback API.
//
// Handlers never block: they validate and hand the image to the RequestSubmitter with a callback
// that finishes the RPC (or writes the stream response). The dispatcher's worker threads run the
// completions.
//
// Ownership: the service borrows the metadata and the submitter; both must outlive the
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
#include "ternserve/v1/classifier.grpc.pb.h"

namespace ternserve {

struct ClassifierServiceOptions {
  ValidationLimits limits;
  // Reported by GetModelInfo.
  std::string policy;  // e.g. "slackfit" or "fixed:3"
  std::string engine;  // e.g. "ternary"
  // The latency profile the policy decides with, reported by GetModelInfo. Borrowed; must
  // outlive the service. Null: no latency table is reported.
  const LatencyProfile* latency_profile = nullptr;
};

class ClassifierService final : public v1::Classifier::CallbackService {
 public:
  // The submitter's clock must be the wall clock (or agree with it): gRPC deadlines are compared
  // against its Now().
  ClassifierService(const ClassifierServiceOptions& options, const BundleMetadata* metadata,
                    const RequestSubmitter* submitter);

  grpc::ServerUnaryReactor* Classify(grpc::CallbackServerContext* context,
                                     const v1::ClassifyRequest* request,
                                     v1::ClassifyResponse* response) override;
  grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>* ClassifyStream(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;

  using AnswerCallback = absl::AnyInvocable<void(absl::StatusOr<v1::ClassifyResponse>)>;

  // Validates `request` and queues it; `on_done` gets the finished response (status OK) or the
  // reason it was refused or failed. Called exactly once, possibly before Submit returns.
  // `request` must stay valid until then (its pixels are read in place); `on_done` may own it.
  // Used by both RPCs.
  void Submit(const v1::ClassifyRequest& request, absl::Time grpc_deadline, AnswerCallback on_done);

 private:
  class StreamReactor;

  // Constant after construction.
  const ClassifierServiceOptions options_;
  const BundleMetadata* const metadata_;
  const RequestSubmitter* const submitter_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_CLASSIFIER_SERVICE_H_
