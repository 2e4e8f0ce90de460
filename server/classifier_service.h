// ClassifierService: the ternserve.v1.Classifier gRPC service, on gRPC's callback API.
//
// Handlers never block: they validate, build a scheduler Request whose on_done finishes the RPC (or
// writes the stream response), and Enqueue it. The dispatcher's worker threads run the completions.
//
// Ownership: the service borrows the metadata, the dispatcher and the clock; all must outlive the
// grpc::Server that serves it, and the dispatcher must be drained (every on_done run) before the
// service is destroyed. Thread-safe: gRPC calls the handlers concurrently; the service's own state
// is constant.
#ifndef TERNSERVE_SERVER_CLASSIFIER_SERVICE_H_
#define TERNSERVE_SERVER_CLASSIFIER_SERVICE_H_

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "models/bundle.h"
#include "scheduler/clock.h"
#include "scheduler/dispatcher.h"
#include "scheduler/latency_profile.h"
#include "server/metrics.h"
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
  // Told how every Classify request was answered, once, just before the answer goes out.
  // Borrowed; must outlive the service. Null (the default): no metrics.
  ServerMetrics* metrics = nullptr;
};

class ClassifierService final : public v1::Classifier::CallbackService {
 public:
  // `clock` must be the wall clock (or agree with it): gRPC deadlines are compared against its
  // Now().
  ClassifierService(const ClassifierServiceOptions& options, const BundleMetadata* metadata,
                    Dispatcher* dispatcher, Clock* clock);

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
  // Used by both RPCs; the one place requests are counted in the metrics.
  void Submit(const v1::ClassifyRequest& request, absl::Time grpc_deadline, AnswerCallback on_done);

 private:
  class StreamReactor;

  // Constant after construction.
  const ClassifierServiceOptions options_;
  const BundleMetadata* const metadata_;
  Dispatcher* const dispatcher_;
  Clock* const clock_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_CLASSIFIER_SERVICE_H_
