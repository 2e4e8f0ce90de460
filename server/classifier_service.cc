// ternserve.v1.Classifier on gRPC's callback API. See classifier_service.h.
#include "server/classifier_service.h"

#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "server/classify_response.h"
#include "server/grpc_status.h"
#include "server/queued_bidi_reactor.h"
#include "util/version.h"

namespace ternserve {
namespace {

// The response for an image's result, or why there is none.
absl::StatusOr<v1::ClassifyResponse> ToAnswer(const ImageResult& result, int top_k,
                                              const BundleMetadata& metadata) {
  if (!result.outcome.status.ok()) return result.outcome.status;
  v1::ClassifyResponse response;
  if (absl::Status filled = FillClassifyResponse(result, top_k, metadata, &response);
      !filled.ok()) {
    return filled;
  }
  return response;
}

}  // namespace

// One ClassifyStream call: each request read is submitted; its answer, with the request_id and a
// per-message status, is queued for writing (QueuedBidiReactor).
class ClassifierService::StreamReactor final
    : public QueuedBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse> {
 public:
  StreamReactor(ClassifierService* service, absl::Time grpc_deadline)
      : service_(service), grpc_deadline_(grpc_deadline) {
    StartReading();
  }

 private:
  void OnRequest(v1::ClassifyRequest* read) override {
    // The message is read into again at once: keep its contents (a swap, no pixel copy) until
    // the answer, since the task borrows its pixels.
    auto request = std::make_unique<v1::ClassifyRequest>();
    request->Swap(read);
    std::string request_id = EchoedRequestId(*request, service_->options_.limits);
    const v1::ClassifyRequest& submitted = *request;
    service_->Submit(submitted, grpc_deadline_,
                     [this, request = std::move(request), request_id = std::move(request_id)](
                         absl::StatusOr<v1::ClassifyResponse> result) {
                       v1::ClassifyResponse response;
                       if (result.ok()) response = *std::move(result);
                       response.set_request_id(request_id);
                       ToResponseStatus(result.status(), response.mutable_status());
                       Answer(std::move(response));
                     });
  }

  // Constant after construction.
  ClassifierService* const service_;
  const absl::Time grpc_deadline_;
};

ClassifierService::ClassifierService(const ClassifierServiceOptions& options,
                                     const BundleMetadata* metadata,
                                     const RequestSubmitter* submitter)
    : options_(options), metadata_(metadata), submitter_(submitter) {}

void ClassifierService::Submit(const v1::ClassifyRequest& request, absl::Time grpc_deadline,
                               AnswerCallback on_done) {
  const absl::Time arrival = submitter_->Now();
  submitter_->OnReceived();
  absl::StatusOr<ValidatedRequest> validated =
      ValidateClassifyRequest(request, options_.limits, arrival, grpc_deadline);
  if (!validated.ok()) {
    submitter_->OnInvalid(validated.status());
    on_done(validated.status());
    return;
  }
  const absl::Span<const float> pixels[] = {validated->pixels};
  // The completion owns a decoded image; moving the vector keeps the buffer `pixels` points into.
  submitter_->Submit(arrival, validated->deadline, pixels,
                     [this, top_k = validated->top_k, decoded = std::move(validated->decoded),
                      on_done = std::move(on_done)](const std::vector<ImageResult>& results,
                                                    RequestSubmitter::Record record) mutable {
                       absl::StatusOr<v1::ClassifyResponse> response =
                           ToAnswer(results.front(), top_k, *metadata_);
                       record(response.status());
                       on_done(std::move(response));
                     });
}

grpc::ServerUnaryReactor* ClassifierService::Classify(grpc::CallbackServerContext* context,
                                                      const v1::ClassifyRequest* request,
                                                      v1::ClassifyResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = submitter_->Authenticate(*context); !auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  std::string request_id = EchoedRequestId(*request, options_.limits);
  Submit(*request, GrpcDeadline(*context),
         [reactor, response,
          request_id = std::move(request_id)](absl::StatusOr<v1::ClassifyResponse> result) {
           if (result.ok()) {
             *response = *std::move(result);
             response->set_request_id(request_id);
           }
           reactor->Finish(ToGrpcStatus(result.status()));
         });
  return reactor;
}

grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>*
ClassifierService::ClassifyStream(grpc::CallbackServerContext* context) {
  if (absl::Status auth = submitter_->Authenticate(*context); !auth.ok()) {
    return new RefusedBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse>(ToGrpcStatus(auth));
  }
  return new StreamReactor(this, GrpcDeadline(*context));
}

grpc::ServerUnaryReactor* ClassifierService::GetModelInfo(
    grpc::CallbackServerContext* context, const v1::GetModelInfoRequest* /*request*/,
    v1::ModelInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = submitter_->Authenticate(*context); !auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  response->set_model_name(metadata_->model_name);
  for (const std::string& label : metadata_->labels) response->add_labels(label);
  for (const SubnetMeta& meta : metadata_->subnets) {
    v1::SubnetInfo* subnet = response->add_subnets();
    subnet->set_id(meta.id);
    subnet->set_name(meta.name);
    for (int d : meta.config.depths) subnet->add_depths(d);
    for (int w : meta.config.widths) subnet->add_widths(w);
    subnet->set_macs(meta.macs);
    subnet->set_params(meta.params);
    subnet->set_val_accuracy(meta.val_accuracy);
    subnet->set_test_accuracy(meta.test_accuracy);
    subnet->set_sparsity(meta.sparsity);
  }
  if (options_.latency_profile != nullptr) {
    for (const SubnetLatency& subnet : options_.latency_profile->subnets) {
      for (const BatchLatency& b : subnet.batches) {
        v1::LatencyEntry* entry = response->add_latency_table();
        entry->set_subnet_id(subnet.id);
        entry->set_batch_size(b.batch);
        entry->set_p50_us(b.p50_us);
        entry->set_p99_us(b.p99_us);
      }
    }
  }
  response->set_policy(options_.policy);
  response->set_engine(options_.engine);
  response->set_quantizer(metadata_->quantizer);
  response->set_version(kTernserveVersion);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace ternserve
