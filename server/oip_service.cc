// inference.GRPCInferenceService on gRPC's callback API. See oip_service.h and docs/oip.md.
#include "server/oip_service.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "models/arch.h"
#include "server/grpc_status.h"
#include "server/queued_bidi_reactor.h"
#include "util/version.h"

namespace ternserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;

constexpr char kPlatform[] = "ternserve_ternary";
constexpr char kBackend[] = "ternserve";

grpc::ServerUnaryReactor* FinishOk(grpc::CallbackServerContext* context) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void FillDuration(const DurationStat& from, inference::StatisticDuration* to) {
  to->set_count(from.count);
  to->set_ns(from.ns);
}

}  // namespace

// One ModelStreamInfer call: each request read is parsed and queued; its answer (or its error, with
// the request's id and the int64 parameter "code") is queued for writing.
class OipService::StreamReactor final
    : public QueuedBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  StreamReactor(OipService* service, absl::Time grpc_deadline)
      : service_(service), grpc_deadline_(grpc_deadline) {
    StartReading();
  }

 private:
  void OnRequest(ModelInferRequest* read) override {
    // Keep the message (a swap, no copy) until the answer: the reactor reads into `read` again.
    auto request = std::make_unique<ModelInferRequest>();
    request->Swap(read);
    const ModelInferRequest& submitted = *request;
    service_->Infer(
        submitted, grpc_deadline_,
        [this, request = std::move(request)](absl::StatusOr<ModelInferResponse> result) {
          ModelStreamInferResponse answer;
          if (result.ok()) {
            *answer.mutable_infer_response() = *std::move(result);
          } else {
            answer.set_error_message(std::string(result.status().message()));
            ModelInferResponse* failed = answer.mutable_infer_response();
            failed->set_model_name(request->model_name());
            failed->set_model_version(request->model_version());
            failed->set_id(request->id());
            (*failed->mutable_parameters())["code"].set_int64_param(
                static_cast<int64_t>(result.status().code()));
          }
          Answer(std::move(answer));
        });
  }

  // Constant after construction.
  OipService* const service_;
  const absl::Time grpc_deadline_;
};

OipService::OipService(const OipServiceOptions& options, const BundleMetadata* metadata,
                       const RequestSubmitter* submitter, const InferenceStatistics* statistics)
    : options_(options), metadata_(metadata), submitter_(submitter), statistics_(statistics) {}

grpc::ServerUnaryReactor* OipService::Refuse(grpc::CallbackServerContext* context,
                                             const std::string* name, const std::string* version) {
  absl::Status status = submitter_->Authenticate(*context);
  if (status.ok() && name != nullptr) status = CheckModel(options_.model, *name, *version);
  if (status.ok()) return nullptr;
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

void OipService::Infer(const ModelInferRequest& request, absl::Time grpc_deadline,
                       AnswerCallback on_done) {
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
      arrival, owned->deadline, images,
      [this, &request, owned, on_done = std::move(on_done)](
          const std::vector<ImageResult>& results, RequestSubmitter::Record record) mutable {
        absl::Status failed = FirstFailure(results);
        absl::StatusOr<ModelInferResponse> response =
            failed.ok()
                ? BuildModelInferResponse(request, *owned, results, options_.model, *metadata_)
                : absl::StatusOr<ModelInferResponse>(std::move(failed));
        record(response.status());
        on_done(std::move(response));
      });
}

grpc::ServerUnaryReactor* OipService::ModelInfer(grpc::CallbackServerContext* context,
                                                 const ModelInferRequest* request,
                                                 ModelInferResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status auth = submitter_->Authenticate(*context); !auth.ok()) {
    reactor->Finish(ToGrpcStatus(auth));
    return reactor;
  }
  Infer(*request, GrpcDeadline(*context),
        [reactor, response](absl::StatusOr<ModelInferResponse> result) {
          if (result.ok()) *response = *std::move(result);
          reactor->Finish(ToGrpcStatus(result.status()));
        });
  return reactor;
}

grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse>* OipService::ModelStreamInfer(
    grpc::CallbackServerContext* context) {
  if (absl::Status auth = submitter_->Authenticate(*context); !auth.ok()) {
    return new RefusedBidiReactor<ModelInferRequest, ModelStreamInferResponse>(ToGrpcStatus(auth));
  }
  return new StreamReactor(this, GrpcDeadline(*context));
}

grpc::ServerUnaryReactor* OipService::ServerLive(grpc::CallbackServerContext* context,
                                                 const inference::ServerLiveRequest* /*request*/,
                                                 inference::ServerLiveResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context, nullptr, nullptr)) return refused;
  response->set_live(true);
  return FinishOk(context);
}

grpc::ServerUnaryReactor* OipService::ServerReady(grpc::CallbackServerContext* context,
                                                  const inference::ServerReadyRequest* /*request*/,
                                                  inference::ServerReadyResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context, nullptr, nullptr)) return refused;
  response->set_ready(ready_.load(std::memory_order_relaxed));
  return FinishOk(context);
}

grpc::ServerUnaryReactor* OipService::ModelReady(grpc::CallbackServerContext* context,
                                                 const inference::ModelReadyRequest* request,
                                                 inference::ModelReadyResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context, &request->name(), &request->version())) {
    return refused;
  }
  response->set_ready(ready_.load(std::memory_order_relaxed));
  return FinishOk(context);
}

grpc::ServerUnaryReactor* OipService::ServerMetadata(
    grpc::CallbackServerContext* context, const inference::ServerMetadataRequest* /*request*/,
    inference::ServerMetadataResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context, nullptr, nullptr)) return refused;
  response->set_name("ternserve");
  response->set_version(kTernserveVersion);
  for (const char* extension : {"classification", "model_configuration", "statistics"}) {
    response->add_extensions(extension);
  }
  return FinishOk(context);
}

grpc::ServerUnaryReactor* OipService::ModelMetadata(grpc::CallbackServerContext* context,
                                                    const inference::ModelMetadataRequest* request,
                                                    inference::ModelMetadataResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context, &request->name(), &request->version())) {
    return refused;
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
  return FinishOk(context);
}

grpc::ServerUnaryReactor* OipService::ModelConfig(grpc::CallbackServerContext* context,
                                                  const inference::ModelConfigRequest* request,
                                                  inference::ModelConfigResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context, &request->name(), &request->version())) {
    return refused;
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
  return FinishOk(context);
}

grpc::ServerUnaryReactor* OipService::ModelStatistics(
    grpc::CallbackServerContext* context, const inference::ModelStatisticsRequest* request,
    inference::ModelStatisticsResponse* response) {
  // An empty name asks for every model: ours.
  const bool all = request->name().empty();
  if (grpc::ServerUnaryReactor* refused =
          Refuse(context, all ? nullptr : &request->name(), &request->version())) {
    return refused;
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
  return FinishOk(context);
}

grpc::ServerUnaryReactor* OipService::RepositoryIndex(
    grpc::CallbackServerContext* context, const inference::RepositoryIndexRequest* /*request*/,
    inference::RepositoryIndexResponse* response) {
  if (grpc::ServerUnaryReactor* refused = Refuse(context, nullptr, nullptr)) return refused;
  auto* model = response->add_models();
  model->set_name(options_.model.name);
  model->set_version(kOipModelVersion);
  model->set_state(ready_.load(std::memory_order_relaxed) ? "READY" : "UNAVAILABLE");
  return FinishOk(context);
}

}  // namespace ternserve
