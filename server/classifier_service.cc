// ternserve.v1.Classifier on gRPC's callback API. See classifier_service.h.
#include "server/classifier_service.h"

#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "server/classify_response.h"
#include "server/grpc_status.h"
#include "server/queued_bidi_reactor.h"
#include "server/raw_rpc.h"
#include "util/version.h"

namespace ternserve {
namespace {

// The response for an image's result, or why there is none: from the bundle that computed it, or
// the current one if the result names none.
absl::StatusOr<v1::ClassifyResponse> ToAnswer(const ImageResult& result, int top_k,
                                              const CurrentModel& current) {
  if (!result.outcome.status.ok()) return result.outcome.status;
  const std::shared_ptr<const BundleMetadata> metadata =
      result.model != nullptr ? result.model : current.Get()->metadata;
  v1::ClassifyResponse response;
  if (absl::Status filled = FillClassifyResponse(result, top_k, *metadata, &response);
      !filled.ok()) {
    return filled;
  }
  return response;
}

}  // namespace

// One ClassifyStream call: each request read is parsed and submitted; its answer, with the
// request_id and a per-message status, is queued for writing (QueuedBidiReactor). A message that
// does not parse is answered INVALID_ARGUMENT, and the stream goes on.
class ClassifierService::StreamReactor final
    : public QueuedBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(ClassifierService* service, absl::Time grpc_deadline)
      : service_(service), grpc_deadline_(grpc_deadline) {
    StartReading();
  }

 private:
  void OnRequest(grpc::ByteBuffer* read) override {
    // The task borrows the request's pixels: the message lives until the answer.
    auto request = std::make_unique<v1::ClassifyRequest>();
    if (absl::Status parsed = service_->submitter_->ParseReceived(*read, request.get());
        !parsed.ok()) {
      v1::ClassifyResponse refused;
      ToResponseStatus(parsed, refused.mutable_status());
      Write(refused);
      return;
    }
    std::string request_id = EchoedRequestId(*request, service_->options_.limits);
    const v1::ClassifyRequest& submitted = *request;
    service_->Submit(
        submitted, grpc_deadline_,
        [this, request = std::move(request),
         request_id = std::move(request_id)](absl::StatusOr<v1::ClassifyResponse> result) {
          v1::ClassifyResponse response;
          if (result.ok()) response = *std::move(result);
          response.set_request_id(request_id);
          ToResponseStatus(result.status(), response.mutable_status());
          Write(response);
        },
        cancelled());
  }

  void OnCancelled() override { service_->submitter_->RemoveCancelled(); }

  void Write(const v1::ClassifyResponse& response) {
    grpc::ByteBuffer bytes;
    if (absl::Status serialized = SerializeRawMessage(response, &bytes); !serialized.ok()) {
      v1::ClassifyResponse failed;  // a status only: always serializes
      failed.set_request_id(response.request_id());
      ToResponseStatus(serialized, failed.mutable_status());
      bytes.Clear();
      SerializeRawMessage(failed, &bytes).IgnoreError();
    }
    Answer(std::move(bytes));
  }

  // Constant after construction.
  ClassifierService* const service_;
  const absl::Time grpc_deadline_;
};

ClassifierService::ClassifierService(const ClassifierServiceOptions& options,
                                     const CurrentModel* model, const RequestSubmitter* submitter)
    : options_(options), model_(model), submitter_(submitter) {}

void ClassifierService::Submit(const v1::ClassifyRequest& request, absl::Time grpc_deadline,
                               AnswerCallback on_done, CancelFlag cancelled) {
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
  submitter_->Submit(
      arrival, validated->deadline, validated->min_accuracy, pixels,
      [this, top_k = validated->top_k, decoded = std::move(validated->decoded),
       on_done = std::move(on_done)](const std::vector<ImageResult>& results,
                                     RequestSubmitter::Record record) mutable {
        absl::StatusOr<v1::ClassifyResponse> response = ToAnswer(results.front(), top_k, *model_);
        record(response.status());
        on_done(std::move(response));
      },
      std::move(cancelled));
}

grpc::ServerUnaryReactor* ClassifierService::Classify(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* raw,
                                                      grpc::ByteBuffer* response) {
  RawUnaryReactor* reactor = submitter_->NewUnaryReactor(response);
  // The task borrows the request's pixels: the message lives until the answer.
  std::unique_ptr<v1::ClassifyRequest> request =
      submitter_->StartUnaryCall<v1::ClassifyRequest>(*context, *raw, reactor);
  if (request == nullptr) return reactor;
  std::string request_id = EchoedRequestId(*request, options_.limits);
  const v1::ClassifyRequest& submitted = *request;
  Submit(
      submitted, GrpcDeadline(*context),
      [reactor, request = std::move(request),
       request_id = std::move(request_id)](absl::StatusOr<v1::ClassifyResponse> result) {
        if (!result.ok()) {
          reactor->Answer(result.status());
          return;
        }
        result->set_request_id(request_id);
        reactor->Answer(absl::OkStatus(), *result);
      },
      reactor->cancelled());
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ClassifierService::ClassifyStream(
    grpc::CallbackServerContext* context) {
  if (absl::Status admit = submitter_->Admit(*context); !admit.ok()) {
    return new RefusedBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>(ToGrpcStatus(admit));
  }
  return new StreamReactor(this, GrpcDeadline(*context));
}

grpc::ServerUnaryReactor* ClassifierService::GetModelInfo(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* raw,
                                                          grpc::ByteBuffer* response) {
  return AnswerRawNow<v1::GetModelInfoRequest, v1::ModelInfo>(
      context, submitter_->Admit(*context), raw, response,
      [this](const v1::GetModelInfoRequest& /*request*/, v1::ModelInfo* info) {
        FillModelInfo(info);
        return absl::OkStatus();
      });
}

void ClassifierService::FillModelInfo(v1::ModelInfo* response) const {
  const std::shared_ptr<const ServedModel> model = model_->Get();
  const BundleMetadata& metadata = *model->metadata;
  response->set_model_name(metadata.model_name);
  for (const std::string& label : metadata.labels) response->add_labels(label);
  for (const SubnetMeta& meta : metadata.subnets) {
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
  if (model->profile != nullptr) {
    for (const SubnetLatency& subnet : model->profile->subnets) {
      for (const BatchLatency& b : subnet.batches) {
        v1::LatencyEntry* entry = response->add_latency_table();
        entry->set_subnet_id(subnet.id);
        entry->set_batch_size(b.batch);
        entry->set_p50_us(b.p50_us);
        entry->set_p99_us(b.p99_us);
      }
    }
  }
  response->set_policy(model->policy);
  response->set_engine(options_.engine);
  response->set_quantizer(metadata.quantizer);
  response->set_version(kTernserveVersion);
}

}  // namespace ternserve
