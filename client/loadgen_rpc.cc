// The load generator's RPCs over either API. See loadgen_rpc.h.
#include "client/loadgen_rpc.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "inference/grpc_service.grpc.pb.h"
#include "ternserve/v1/classifier.grpc.pb.h"

namespace ternserve {
namespace {

absl::Status FromGrpc(const grpc::Status& status, absl::string_view call) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(call, ": ", status.error_message()));
}

// What differs between the APIs: the stub, the messages and the start-up check. Everything else
// (RpcImpl, Connection, Stream below) is written once over these.
struct TernserveApi {
  using Stub = v1::Classifier::Stub;
  using Request = v1::ClassifyRequest;
  using Response = v1::ClassifyResponse;
  using StreamResponse = v1::ClassifyResponse;
  using Image = v1::Pixels;

  static Image MakeImage(const std::vector<float>& pixels) {
    Image image;
    image.mutable_values()->Add(pixels.begin(), pixels.end());
    return image;
  }
  static std::unique_ptr<Stub> NewStub(const std::shared_ptr<grpc::Channel>& channel) {
    return v1::Classifier::NewStub(channel);
  }
  static void Fill(const Image* image, float slo_ms, double min_accuracy,
                   const std::string& /*model_name*/, absl::string_view id, Request* request) {
    FillClassifyRequest(image, slo_ms, min_accuracy, id, request);
  }
  static void Release(Request* request) { ReleaseClassifyImage(request); }
  static void SetSlo(double slo_ms, Request* request) { SetClassifySlo(slo_ms, request); }
  static LoadgenAnswer Read(const Response& response) { return ReadClassifyResponse(response); }
  static LoadgenAnswer ReadStream(const StreamResponse& response) {
    return ReadClassifyResponse(response);
  }
  static void StartCall(Stub* stub, grpc::ClientContext* context, const Request* request,
                        Response* response, std::function<void(grpc::Status)> done) {
    stub->async()->Classify(context, request, response, std::move(done));
  }
  static void StartStream(Stub* stub, grpc::ClientContext* context,
                          grpc::ClientBidiReactor<Request, StreamResponse>* reactor) {
    stub->async()->ClassifyStream(context, reactor);
  }

  static absl::StatusOr<std::string> Handshake(Stub* stub, grpc::ClientContext* context,
                                               std::string* /*model_name*/) {
    v1::ModelInfo info;
    const grpc::Status status = stub->GetModelInfo(context, v1::GetModelInfoRequest(), &info);
    if (status.ok()) return info.model_name();
    switch (status.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
      case grpc::StatusCode::UNAUTHENTICATED:
        return FromGrpc(status, "GetModelInfo");
      default:  // any other answer (even UNIMPLEMENTED) means a gRPC server is there
        return std::string("unknown");
    }
  }
};

struct OipApi {
  using Stub = inference::GRPCInferenceService::Stub;
  using Request = inference::ModelInferRequest;
  using Response = inference::ModelInferResponse;
  using StreamResponse = inference::ModelStreamInferResponse;
  using Image = std::string;  // raw FP32 bytes

  static Image MakeImage(const std::vector<float>& pixels) { return OipImageBytes(pixels); }
  static std::unique_ptr<Stub> NewStub(const std::shared_ptr<grpc::Channel>& channel) {
    return inference::GRPCInferenceService::NewStub(channel);
  }
  static void Fill(const Image* image, float slo_ms, double min_accuracy,
                   const std::string& model_name, absl::string_view id, Request* request) {
    FillModelInferRequest(image, slo_ms, min_accuracy, model_name, id, request);
  }
  static void Release(Request* request) { ReleaseModelInferImage(request); }
  static void SetSlo(double slo_ms, Request* request) { SetModelInferSlo(slo_ms, request); }
  static LoadgenAnswer Read(const Response& response) { return ReadModelInferResponse(response); }
  static LoadgenAnswer ReadStream(const StreamResponse& response) {
    return ReadModelStreamInferResponse(response);
  }
  static void StartCall(Stub* stub, grpc::ClientContext* context, const Request* request,
                        Response* response, std::function<void(grpc::Status)> done) {
    stub->async()->ModelInfer(context, request, response, std::move(done));
  }
  static void StartStream(Stub* stub, grpc::ClientContext* context,
                          grpc::ClientBidiReactor<Request, StreamResponse>* reactor) {
    stub->async()->ModelStreamInfer(context, reactor);
  }

  static absl::StatusOr<std::string> Handshake(Stub* stub, grpc::ClientContext* context,
                                               std::string* model_name) {
    if (!model_name->empty()) {
      inference::ModelMetadataRequest request;
      request.set_name(*model_name);
      inference::ModelMetadataResponse metadata;
      const grpc::Status status = stub->ModelMetadata(context, request, &metadata);
      if (!status.ok())
        return FromGrpc(status, absl::StrCat("ModelMetadata of '", *model_name, "'"));
      return metadata.name();
    }
    inference::RepositoryIndexResponse index;
    const grpc::Status status =
        stub->RepositoryIndex(context, inference::RepositoryIndexRequest(), &index);
    if (!status.ok()) return FromGrpc(status, "RepositoryIndex");
    if (index.models_size() != 1) {
      std::vector<std::string> names;
      for (const auto& model : index.models()) names.push_back(model.name());
      return absl::FailedPreconditionError(
          absl::StrCat("RepositoryIndex: the server serves ", index.models_size(), " models (",
                       absl::StrJoin(names, ", "), "): name one with --model_name"));
    }
    *model_name = index.models(0).name();
    return *model_name;
  }
};

template <typename Api>
class RpcImpl;

// One in-flight unary call; owned by its completion callback, which deletes it.
template <typename Api>
struct Call {
  grpc::ClientContext context;
  typename Api::Request request;
  typename Api::Response response;
  RequestRecord* record = nullptr;
  ~Call() { Api::Release(&request); }
};

// One stream (stream mode). The pacing thread queues requests with Send; gRPC allows one
// outstanding write, so they go out one at a time from the queue, the next started by the previous
// write's completion. One read is always posted; each answer goes to the sink. Thread-safe:
// Send/CloseWrites (pacing thread) and the reactions (gRPC threads) share the queue under mu_.
//
// A message's SLO counts from its Send, as a unary call's deadline counts from its start. When it
// is written, its SLO on the wire is what is left of it (as gRPC sends a call's remaining time in
// grpc-timeout), so the server sees its real deadline. One whose SLO ran out while it waited in
// the queue (the server reads more slowly than a burst arrives; flow control holds the rest here)
// is not written: the client answers it DEADLINE_EXCEEDED itself, as gRPC ends a call whose
// deadline passes before it is answered. Without this, a burst leaves a backlog that every later
// message of the stream waits behind, stale work the server must read before it can see fresh.
template <typename Api>
class Stream final
    : public grpc::ClientBidiReactor<typename Api::Request, typename Api::StreamResponse> {
 public:
  Stream(const RpcImpl<Api>* rpc, typename Api::Stub* stub) : rpc_(rpc) {
    rpc_->options().security.PrepareContext(&context_);
    Api::StartStream(stub, &context_, this);
    this->StartRead(&response_);
    this->StartCall();
  }

  // Queues one request (its id the record's index, its image borrowed) and writes it if the
  // stream is idle.
  void Send(const typename Api::Image* image, float slo_ms, double min_accuracy, int64_t index) {
    const typename Api::Request* start = nullptr;
    std::vector<int64_t> expired;
    {
      absl::MutexLock lock(&mu_);
      if (broken_) return;  // stays unanswered: counted as NO_RESPONSE
      Outgoing& out = queue_.emplace_back();
      out.queued = std::chrono::steady_clock::now();
      out.slo_ms = slo_ms;
      out.index = index;
      Api::Fill(image, slo_ms, min_accuracy, rpc_->model_name(), std::to_string(index),
                &out.request);
      if (!writing_) {
        start = NextToWrite(&expired);
        writing_ = start != nullptr;
      }
    }
    AnswerExpired(expired);
    if (start != nullptr) this->StartWrite(start);
  }

  // No more requests: half-closes once the queue has gone out.
  void CloseWrites() {
    bool close_now = false;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      close_now = !writing_ && !writes_done_;
      writes_done_ = writes_done_ || close_now;
    }
    if (close_now) this->StartWritesDone();
  }

  void Cancel() { context_.TryCancel(); }

  void OnWriteDone(bool ok) override {
    const typename Api::Request* next = nullptr;
    std::vector<int64_t> expired;
    bool close_now = false;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      if (!ok) {  // the stream is gone: what is queued will never be answered
        broken_ = true;
        queue_.clear();
      }
      next = NextToWrite(&expired);
      if (next == nullptr) {
        writing_ = false;
        close_now = ok && closing_ && !writes_done_;
        writes_done_ = writes_done_ || close_now;
      }
    }
    AnswerExpired(expired);
    if (next != nullptr) this->StartWrite(next);
    if (close_now) this->StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the server finished (or the stream broke): OnDone follows
    LoadgenAnswer answer = Api::ReadStream(response_);
    answer.peer = context_.peer();
    rpc_->sink()->OnStreamAnswer(answer);
    this->StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      std::fprintf(
          stderr, "ternserve-loadgen: a stream ended with %s: %s\n",
          absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())).c_str(),
          status.error_message().c_str());
    }
    rpc_->sink()->OnStreamDone();
  }

 private:
  // A queued request; gives its borrowed image back before it is destroyed.
  struct Outgoing {
    typename Api::Request request;
    std::chrono::steady_clock::time_point queued;  // its Send
    float slo_ms = 0;
    int64_t index = 0;
    ~Outgoing() { Api::Release(&request); }
  };

  // Less than this left of its SLO and a message is not worth writing: the server would shed it.
  static constexpr double kMinBudgetMs = 0.001;

  // The front of the queue, ready to write with what is left of its SLO, after taking off (into
  // `expired`, by index) the messages in front of it whose SLO has run out. nullptr when none is
  // left.
  const typename Api::Request* NextToWrite(std::vector<int64_t>* expired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const auto now = std::chrono::steady_clock::now();
    while (!queue_.empty()) {
      Outgoing& front = queue_.front();
      const double waited_ms =
          std::chrono::duration<double, std::milli>(now - front.queued).count();
      const double budget_ms = static_cast<double>(front.slo_ms) - waited_ms;
      if (budget_ms >= kMinBudgetMs) {
        Api::SetSlo(budget_ms, &front.request);
        return &front.request;  // stable: deque push_back keeps references
      }
      expired->push_back(front.index);
      queue_.pop_front();
    }
    return nullptr;
  }

  // Answers the requests NextToWrite took off, outside mu_.
  void AnswerExpired(const std::vector<int64_t>& expired) {
    for (const int64_t index : expired) {
      const std::string id = std::to_string(index);
      LoadgenAnswer answer;
      answer.code = static_cast<int32_t>(grpc::StatusCode::DEADLINE_EXCEEDED);
      answer.request_id = id;
      answer.expired_in_client = true;
      rpc_->sink()->OnStreamAnswer(answer);
    }
  }

  const RpcImpl<Api>* const rpc_;
  grpc::ClientContext context_;
  typename Api::StreamResponse response_;  // the read chain's (one read at a time)

  absl::Mutex mu_;
  std::deque<Outgoing> queue_ ABSL_GUARDED_BY(mu_);  // front is being written if writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
};

template <typename Api>
class Connection final : public LoadgenConnection {
 public:
  Connection(const RpcImpl<Api>* rpc, const std::shared_ptr<grpc::Channel>& channel, bool stream)
      : rpc_(rpc), stub_(Api::NewStub(channel)) {
    if (stream) stream_ = std::make_unique<Stream<Api>>(rpc_, stub_.get());
  }

  void Send(RequestRecord* record, int64_t index) override {
    const typename Api::Image* image = &rpc_->image(record->image);
    const double min_accuracy = rpc_->FloorOf(*record);
    if (stream_ != nullptr) {
      stream_->Send(image, record->slo_ms, min_accuracy, index);
      return;
    }
    auto* call = new Call<Api>;
    call->record = record;
    Api::Fill(image, record->slo_ms, min_accuracy, rpc_->model_name(), "", &call->request);
    call->context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoNanoseconds(rpc_->options().timeout));
    rpc_->options().security.PrepareContext(&call->context);
    LoadgenSink* sink = rpc_->sink();
    Api::StartCall(stub_.get(), &call->context, &call->request, &call->response,
                   [sink, call](grpc::Status status) {
                     LoadgenAnswer answer;
                     if (status.ok()) {
                       answer = Api::Read(call->response);
                       answer.request_id = {};  // points into the call, deleted below
                     } else {
                       answer.code = static_cast<int32_t>(status.error_code());
                     }
                     // With retries, the replica of the last attempt.
                     answer.peer = call->context.peer();
                     RequestRecord* record = call->record;
                     // Gone before the record is published: once the last answer is in, the
                     // Loadgen may be destroyed.
                     delete call;
                     sink->OnAnswer(record, answer);
                   });
  }

  void CloseWrites() override {
    if (stream_ != nullptr) stream_->CloseWrites();
  }
  void Cancel() override {
    if (stream_ != nullptr) stream_->Cancel();
  }

 private:
  const RpcImpl<Api>* const rpc_;
  const std::unique_ptr<typename Api::Stub> stub_;
  std::unique_ptr<Stream<Api>> stream_;
};

template <typename Api>
class RpcImpl final : public LoadgenRpc {
 public:
  RpcImpl(const LoadgenRpcOptions& options, const ImageSet& images, LoadgenSink* sink)
      : options_(options), model_name_(options.model_name), sink_(sink) {
    images_.reserve(static_cast<size_t>(images.count));
    std::vector<float> pixels;
    for (int64_t i = 0; i < images.count; ++i) {
      pixels.clear();
      images.AppendImageAsFloat(i, &pixels);
      images_.push_back(Api::MakeImage(pixels));
    }
  }

  absl::StatusOr<std::string> Handshake(const std::shared_ptr<grpc::Channel>& channel,
                                        absl::Time deadline) override {
    const std::unique_ptr<typename Api::Stub> stub = Api::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    options_.security.PrepareContext(&context);
    return Api::Handshake(stub.get(), &context, &model_name_);
  }

  std::unique_ptr<LoadgenConnection> NewConnection(std::shared_ptr<grpc::Channel> channel,
                                                   bool stream) override {
    return std::make_unique<Connection<Api>>(this, channel, stream);
  }

  const LoadgenRpcOptions& options() const { return options_; }
  const std::string& model_name() const { return model_name_; }
  // The accuracy floor `record` asks for (RequestRecord::floor); 0: none.
  double FloorOf(const RequestRecord& record) const {
    const size_t f = record.floor;
    return f >= 1 && f <= options_.floors.size() ? options_.floors[f - 1] : 0.0;
  }
  LoadgenSink* sink() const { return sink_; }
  const typename Api::Image& image(int32_t index) const {
    return images_[static_cast<size_t>(index)];
  }

 private:
  // Constant after construction, but for model_name_ (constant after Handshake).
  const LoadgenRpcOptions options_;
  std::string model_name_;
  LoadgenSink* const sink_;
  std::vector<typename Api::Image> images_;  // borrowed (read-only) by in-flight requests
};

}  // namespace

std::unique_ptr<LoadgenRpc> LoadgenRpc::Create(const LoadgenRpcOptions& options,
                                               const ImageSet& images, LoadgenSink* sink) {
  if (options.api == LoadgenApi::kOip) {
    return std::make_unique<RpcImpl<OipApi>>(options, images, sink);
  }
  return std::make_unique<RpcImpl<TernserveApi>>(options, images, sink);
}

}  // namespace ternserve
