// ternserve.v1.Classifier on gRPC's callback API. See classifier_service.h.
#include "server/classifier_service.h"

#include <chrono>
#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/classify_response.h"
#include "server/grpc_status.h"

namespace ternserve {
namespace {

// The client's deadline, or InfiniteFuture when it set none.
absl::Time GrpcDeadline(const grpc::CallbackServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

// The response for a completion, or why there is none.
absl::StatusOr<v1::ClassifyResponse> ToAnswer(const Completion& completion, int top_k,
                                              const BundleMetadata& metadata) {
  if (!completion.status.ok()) return completion.status;
  v1::ClassifyResponse response;
  if (absl::Status filled = FillClassifyResponse(completion, top_k, metadata, &response);
      !filled.ok()) {
    return filled;
  }
  return response;
}

}  // namespace

// One ClassifyStream call. Reads requests one at a time and submits each; responses are queued and
// written one at a time (gRPC allows a single outstanding write). Finishes once the client has
// half-closed (or the call is cancelled), every accepted request has been answered, and every
// response written. Deletes itself in OnDone. Thread-safe: gRPC reactions and dispatcher
// completions run on different threads.
class ClassifierService::StreamReactor final
    : public grpc::ServerBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse> {
 public:
  StreamReactor(ClassifierService* service, absl::Time grpc_deadline)
      : service_(service), grpc_deadline_(grpc_deadline) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // half-close, cancellation or a broken stream: no more requests
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
      }
      Pump();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      ++pending_;
    }
    std::string request_id = EchoedRequestId(request_, service_->options_.limits);
    // request_ is only read here, before the next StartRead, so Submit may borrow it.
    service_->Submit(
        request_, grpc_deadline_,
        [this, request_id = std::move(request_id)](absl::StatusOr<v1::ClassifyResponse> result) {
          v1::ClassifyResponse response;
          if (result.ok()) response = *std::move(result);
          response.set_request_id(request_id);
          ToResponseStatus(result.status(), response.mutable_status());
          Answer(std::move(response));
        });
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      writes_.pop_front();
      // A failed write means the stream is gone; later responses have nowhere to go.
      if (!ok) {
        broken_ = true;
        writes_.clear();
      }
    }
    Pump();
  }

  void OnDone() override { delete this; }

 private:
  void Answer(v1::ClassifyResponse response) {
    {
      absl::MutexLock lock(&mu_);
      --pending_;
      if (!broken_) writes_.push_back(std::move(response));
    }
    Pump();
  }

  // Starts the next write, or finishes the call when nothing is left. gRPC calls are made without
  // mu_ held: a reaction may run inline and take it.
  void Pump() {
    enum { kNothing, kWrite, kFinish } action = kNothing;
    const v1::ClassifyResponse* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (writing_ || finished_) return;
      if (!writes_.empty()) {
        writing_ = true;
        next = &writes_.front();  // stable: deque push_back keeps references
        action = kWrite;
      } else if (reads_done_ && pending_ == 0) {
        finished_ = true;
        action = kFinish;
      }
    }
    if (action == kWrite) StartWrite(next);
    if (action == kFinish) Finish(grpc::Status::OK);
  }

  // Constant after construction.
  ClassifierService* const service_;
  const absl::Time grpc_deadline_;

  // Used by the read chain only (one read at a time).
  v1::ClassifyRequest request_;

  absl::Mutex mu_;
  std::deque<v1::ClassifyResponse> writes_
      ABSL_GUARDED_BY(mu_);  // front is being written if writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int pending_ ABSL_GUARDED_BY(mu_) = 0;  // submitted, not yet answered
};

ClassifierService::ClassifierService(const ClassifierServiceOptions& options,
                                     const BundleMetadata* metadata, Dispatcher* dispatcher,
                                     Clock* clock)
    : options_(options), metadata_(metadata), dispatcher_(dispatcher), clock_(clock) {}

void ClassifierService::Submit(const v1::ClassifyRequest& request, absl::Time grpc_deadline,
                               std::function<void(absl::StatusOr<v1::ClassifyResponse>)> on_done) {
  const absl::Time arrival = clock_->Now();
  absl::StatusOr<ValidatedRequest> validated =
      ValidateClassifyRequest(request, options_.limits, arrival, grpc_deadline);
  if (!validated.ok()) {
    if (options_.metrics != nullptr) options_.metrics->OnInvalid(validated.status().code());
    on_done(validated.status());
    return;
  }
  auto queued = std::make_unique<Request>();
  queued->arrival = arrival;
  queued->deadline = validated->deadline;
  queued->image = std::move(validated->pixels);
  // on_done lives in the lambda only; if Enqueue fails, the request (and the lambda) come back to
  // us.
  auto callback = std::make_shared<std::function<void(absl::StatusOr<v1::ClassifyResponse>)>>(
      std::move(on_done));
  queued->on_done = [this, callback, arrival, top_k = validated->top_k](Completion completion) {
    absl::StatusOr<v1::ClassifyResponse> answer = ToAnswer(completion, top_k, *metadata_);
    if (options_.metrics != nullptr) {
      CompletedRequest record;
      record.code = answer.status().code();
      record.ran = completion.batch_size > 0;  // hopeless requests are dropped unrun
      record.deadline_met = completion.deadline_met;
      record.subnet_id = completion.subnet_id;
      record.queue_time = completion.queue_time;
      record.request_time = clock_->Now() - arrival;
      options_.metrics->OnCompleted(record);
    }
    (*callback)(std::move(answer));
  };
  absl::Status enqueued = dispatcher_->Enqueue(&queued);
  if (!enqueued.ok()) {
    if (options_.metrics != nullptr) options_.metrics->OnNotQueued(enqueued.code());
    (*callback)(enqueued);
  }
}

grpc::ServerUnaryReactor* ClassifierService::Classify(grpc::CallbackServerContext* context,
                                                      const v1::ClassifyRequest* request,
                                                      v1::ClassifyResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
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
  return new StreamReactor(this, GrpcDeadline(*context));
}

grpc::ServerUnaryReactor* ClassifierService::GetModelInfo(
    grpc::CallbackServerContext* context, const v1::GetModelInfoRequest* /*request*/,
    v1::ModelInfo* response) {
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
  for (const LatencyEntryValue& e : options_.latency_table) {
    v1::LatencyEntry* entry = response->add_latency_table();
    entry->set_subnet_id(e.subnet_id);
    entry->set_batch_size(e.batch_size);
    entry->set_p50_us(e.p50_us);
    entry->set_p99_us(e.p99_us);
  }
  response->set_policy(options_.policy);
  response->set_engine(options_.engine);
  response->set_quantizer(metadata_->quantizer);
  response->set_version(kTernserveVersion);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace ternserve
