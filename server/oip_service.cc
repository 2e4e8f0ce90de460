// inference.GRPCInferenceService on gRPC's callback API. See oip_service.h and docs/oip.md.
#include "server/oip_service.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "models/arch.h"
#include "server/client_text.h"
#include "server/grpc_status.h"
#include "server/queued_bidi_reactor.h"
#include "server/raw_rpc.h"
#include "util/version.h"

namespace ternserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

constexpr char kPlatform[] = "ternserve_ternary";
constexpr char kBackend[] = "ternserve";

void FillDuration(const DurationStat& from, inference::StatisticDuration* to) {
  to->set_count(from.count);
  to->set_ns(from.ns);
}

// What an error answer echoes of the request: as sent when no longer than a valid value may be
// (so the client can match it), else cut (ClientText), so a hostile 4 MiB name cannot push the
// answer over the client's receive limit.
std::string Echo(const std::string& text, size_t max_bytes) {
  return text.size() <= max_bytes ? text : ClientText(text);
}

// A stream message's answer when it has no response: the error, with the request's id and the
// int64 parameter "code".
ModelStreamInferResponse StreamError(const absl::Status& status, const ModelInferRequest& request) {
  ModelStreamInferResponse answer;
  answer.set_error_message(std::string(status.message()));
  ModelInferResponse* failed = answer.mutable_infer_response();
  failed->set_model_name(Echo(request.model_name(), kMaxClientTextBytes));
  failed->set_model_version(Echo(request.model_version(), kMaxClientTextBytes));
  failed->set_id(Echo(request.id(), ValidationLimits{}.max_request_id_bytes));
  (*failed->mutable_parameters())["code"].set_int64_param(static_cast<int64_t>(status.code()));
  return answer;
}

}  // namespace

// One ModelStreamInfer call: each request read is parsed and queued; its answer (or its error,
// StreamError) is queued for writing. A message that does not parse is answered INVALID_ARGUMENT,
// and the stream goes on.
class OipService::StreamReactor final
    : public QueuedBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamReactor(OipService* service, absl::Time grpc_deadline)
      : service_(service), grpc_deadline_(grpc_deadline) {
    StartReading();
  }

 private:
  void OnRequest(grpc::ByteBuffer* read) override {
    // The tasks borrow the request's tensors: the message lives until the answer.
    auto request = std::make_unique<ModelInferRequest>();
    if (absl::Status parsed = service_->submitter_->ParseReceived(*read, request.get());
        !parsed.ok()) {
      Write(StreamError(parsed, ModelInferRequest()));
      return;
    }
    const ModelInferRequest& submitted = *request;
    service_->Infer(
        submitted, grpc_deadline_,
        [this, request = std::move(request)](absl::StatusOr<ModelInferResponse> result) {
          if (!result.ok()) {
            Write(StreamError(result.status(), *request));
            return;
          }
          ModelStreamInferResponse answer;
          *answer.mutable_infer_response() = *std::move(result);
          Write(answer);
        },
        cancelled());
  }

  void OnCancelled() override { service_->submitter_->RemoveCancelled(); }

  void Write(const ModelStreamInferResponse& answer) {
    grpc::ByteBuffer bytes;
    if (absl::Status serialized = SerializeRawMessage(answer, &bytes); !serialized.ok()) {
      bytes.Clear();
      SerializeRawMessage(StreamError(serialized, ModelInferRequest()), &bytes).IgnoreError();
    }
    Answer(std::move(bytes));
  }

  // Constant after construction.
  OipService* const service_;
  const absl::Time grpc_deadline_;
};

OipService::OipService(const OipServiceOptions& options, const CurrentModel* model,
                       const RequestSubmitter* submitter, const InferenceStatistics* statistics)
    : options_(options), model_(model), submitter_(submitter), statistics_(statistics) {}

void OipService::Infer(const ModelInferRequest& request, absl::Time grpc_deadline,
                       AnswerCallback on_done, CancelFlag cancelled) {
  const absl::Time arrival = submitter_->Now();
  submitter_->OnReceived();
  absl::StatusOr<OipInferRequest> parsed =
      ParseModelInferRequest(request, options_.model, options_.limits, arrival, grpc_deadline);
  if (!parsed.ok()) {
    submitter_->OnInvalid(parsed.status());
    on_done(parsed.status());
    return;
  }
  // The callback owns the pixels the tasks borrow.
  auto owned = std::make_shared<OipInferRequest>(*std::move(parsed));
  std::vector<absl::Span<const float>> images;
  images.reserve(static_cast<size_t>(owned->images));
  for (int i = 0; i < owned->images; ++i) {
    images.push_back(absl::MakeConstSpan(owned->pixels)
                         .subspan(static_cast<size_t>(i) * kImagePixels, kImagePixels));
  }
  submitter_->Submit(
      arrival, owned->deadline, owned->min_accuracy, images,
      [this, &request, owned, on_done = std::move(on_done)](
          const std::vector<ImageResult>& results, RequestSubmitter::Record record) mutable {
        absl::Status failed = FirstFailure(results);
        absl::StatusOr<ModelInferResponse> response =
            failed.ok() ? BuildModelInferResponse(request, *owned, results, options_.model,
                                                  *model_->Get()->metadata)
                        : absl::StatusOr<ModelInferResponse>(std::move(failed));
        record(response.status());
        on_done(std::move(response));
      },
      std::move(cancelled));
}

grpc::ServerUnaryReactor* OipService::ModelInfer(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* raw,
                                                 grpc::ByteBuffer* response) {
  RawUnaryReactor* reactor = submitter_->NewUnaryReactor(response);
  // The tasks borrow the request's tensors: the message lives until the answer.
  std::unique_ptr<ModelInferRequest> request =
      submitter_->StartUnaryCall<ModelInferRequest>(*context, *raw, reactor);
  if (request == nullptr) return reactor;
  const ModelInferRequest& submitted = *request;
  Infer(
      submitted, GrpcDeadline(*context),
      [reactor, request = std::move(request)](absl::StatusOr<ModelInferResponse> result) {
        if (result.ok()) {
          reactor->Answer(absl::OkStatus(), *result);
        } else {
          reactor->Answer(result.status());
        }
      },
      reactor->cancelled());
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* OipService::ModelStreamInfer(
    grpc::CallbackServerContext* context) {
  if (absl::Status admit = submitter_->Admit(*context); !admit.ok()) {
    return new RefusedBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>(ToGrpcStatus(admit));
  }
  return new StreamReactor(this, GrpcDeadline(*context));
}

grpc::ServerUnaryReactor* OipService::ServerLive(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* raw,
                                                 grpc::ByteBuffer* response) {
  return AnswerRawNow<inference::ServerLiveRequest, inference::ServerLiveResponse>(
      context, submitter_->Admit(*context), raw, response,
      [](const inference::ServerLiveRequest& /*request*/, inference::ServerLiveResponse* live) {
        live->set_live(true);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OipService::ServerReady(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* raw,
                                                  grpc::ByteBuffer* response) {
  return AnswerRawNow<inference::ServerReadyRequest, inference::ServerReadyResponse>(
      context, submitter_->Admit(*context), raw, response,
      [this](const inference::ServerReadyRequest& /*request*/,
             inference::ServerReadyResponse* ready) {
        ready->set_ready(ready_.load(std::memory_order_relaxed));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OipService::ModelReady(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* raw,
                                                 grpc::ByteBuffer* response) {
  return AnswerRawNow<inference::ModelReadyRequest, inference::ModelReadyResponse>(
      context, submitter_->Admit(*context), raw, response,
      [this](const inference::ModelReadyRequest& request, inference::ModelReadyResponse* ready) {
        if (absl::Status model = CheckModel(options_.model, request.name(), request.version());
            !model.ok()) {
          return model;
        }
        ready->set_ready(ready_.load(std::memory_order_relaxed));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OipService::ServerMetadata(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* raw,
                                                     grpc::ByteBuffer* response) {
  return AnswerRawNow<inference::ServerMetadataRequest, inference::ServerMetadataResponse>(
      context, submitter_->Admit(*context), raw, response,
      [](const inference::ServerMetadataRequest& /*request*/,
         inference::ServerMetadataResponse* server) {
        server->set_name("ternserve");
        server->set_version(kTernserveVersion);
        for (const char* extension : {"classification", "model_configuration", "statistics"}) {
          server->add_extensions(extension);
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OipService::ModelMetadata(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* raw,
                                                    grpc::ByteBuffer* response) {
  return AnswerRawNow<inference::ModelMetadataRequest, inference::ModelMetadataResponse>(
      context, submitter_->Admit(*context), raw, response,
      [this](const inference::ModelMetadataRequest& request,
             inference::ModelMetadataResponse* metadata) {
        return AnswerModelMetadata(request, metadata);
      });
}

grpc::ServerUnaryReactor* OipService::ModelConfig(grpc::CallbackServerContext* context,
                                                  const grpc::ByteBuffer* raw,
                                                  grpc::ByteBuffer* response) {
  return AnswerRawNow<inference::ModelConfigRequest, inference::ModelConfigResponse>(
      context, submitter_->Admit(*context), raw, response,
      [this](const inference::ModelConfigRequest& request, inference::ModelConfigResponse* config) {
        return AnswerModelConfig(request, config);
      });
}

grpc::ServerUnaryReactor* OipService::ModelStatistics(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* raw,
                                                      grpc::ByteBuffer* response) {
  return AnswerRawNow<inference::ModelStatisticsRequest, inference::ModelStatisticsResponse>(
      context, submitter_->Admit(*context), raw, response,
      [this](const inference::ModelStatisticsRequest& request,
             inference::ModelStatisticsResponse* stats) {
        return AnswerModelStatistics(request, stats);
      });
}

grpc::ServerUnaryReactor* OipService::RepositoryIndex(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* raw,
                                                      grpc::ByteBuffer* response) {
  return AnswerRawNow<inference::RepositoryIndexRequest, inference::RepositoryIndexResponse>(
      context, submitter_->Admit(*context), raw, response,
      [this](const inference::RepositoryIndexRequest& /*request*/,
             inference::RepositoryIndexResponse* index) {
        auto* model = index->add_models();
        model->set_name(options_.model.name);
        model->set_version(kOipModelVersion);
        model->set_state(ready_.load(std::memory_order_relaxed) ? "READY" : "UNAVAILABLE");
        return absl::OkStatus();
      });
}

absl::Status OipService::AnswerModelMetadata(const inference::ModelMetadataRequest& request,
                                             inference::ModelMetadataResponse* response) const {
  if (absl::Status model = CheckModel(options_.model, request.name(), request.version());
      !model.ok()) {
    return model;
  }
  response->set_name(options_.model.name);
  response->add_versions(kOipModelVersion);
  response->set_platform(kPlatform);
  auto* input = response->add_inputs();
  input->set_name(kOipInputName);
  input->set_datatype("FP32");
  for (int64_t d : {int64_t{-1}, int64_t{1}, int64_t{kImageSide}, int64_t{kImageSide}}) {
    input->add_shape(d);
  }
  auto* output = response->add_outputs();
  output->set_name(kOipOutputName);
  output->set_datatype("FP32");
  output->add_shape(-1);
  output->add_shape(static_cast<int64_t>(options_.model.labels.size()));
  return absl::OkStatus();
}

absl::Status OipService::AnswerModelConfig(const inference::ModelConfigRequest& request,
                                           inference::ModelConfigResponse* response) const {
  if (absl::Status model = CheckModel(options_.model, request.name(), request.version());
      !model.ok()) {
    return model;
  }
  inference::ModelConfig* config = response->mutable_config();
  config->set_name(options_.model.name);
  config->set_platform(kPlatform);
  config->set_backend(kBackend);
  config->set_max_batch_size(options_.model.max_images);
  inference::ModelInput* input = config->add_input();
  input->set_name(kOipInputName);
  input->set_data_type(inference::TYPE_FP32);
  input->set_format(inference::ModelInput::FORMAT_NCHW);
  for (int64_t d : {int64_t{1}, int64_t{kImageSide}, int64_t{kImageSide}}) input->add_dims(d);
  inference::ModelOutput* output = config->add_output();
  output->set_name(kOipOutputName);
  output->set_data_type(inference::TYPE_FP32);
  output->add_dims(static_cast<int64_t>(options_.model.labels.size()));
  inference::ModelInstanceGroup* group = config->add_instance_group();
  group->set_name(absl::StrCat(options_.model.name, "_workers"));
  group->set_count(options_.workers);
  group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  // Present: the dispatcher batches requests (by --policy). Its batch sizes are the policy's.
  inference::ModelDynamicBatching* batching = config->mutable_dynamic_batching();
  batching->add_preferred_batch_size(options_.max_batch);
  return absl::OkStatus();
}

absl::Status OipService::AnswerModelStatistics(const inference::ModelStatisticsRequest& request,
                                               inference::ModelStatisticsResponse* response) const {
  // An empty name asks for every model: ours.
  if (!request.name().empty()) {
    if (absl::Status model = CheckModel(options_.model, request.name(), request.version());
        !model.ok()) {
      return model;
    }
  }
  const InferenceStatisticsSnapshot stats =
      statistics_ != nullptr ? statistics_->Snapshot() : InferenceStatisticsSnapshot{};
  inference::ModelStatistics* model = response->add_model_stats();
  model->set_name(options_.model.name);
  model->set_version(kOipModelVersion);
  model->set_last_inference(stats.last_inference_ms);
  model->set_inference_count(stats.inference_count);
  model->set_execution_count(stats.execution_count);
  inference::InferStatistics* infer = model->mutable_inference_stats();
  FillDuration(stats.success, infer->mutable_success());
  FillDuration(stats.fail, infer->mutable_fail());
  FillDuration(stats.queue, infer->mutable_queue());
  FillDuration(stats.compute_infer, infer->mutable_compute_infer());
  for (const auto& [batch_size, duration] : stats.batches) {
    inference::InferBatchStatistics* batch = model->add_batch_stats();
    batch->set_batch_size(static_cast<uint64_t>(batch_size));
    FillDuration(duration, batch->mutable_compute_infer());
  }
  return absl::OkStatus();
}

}  // namespace ternserve
