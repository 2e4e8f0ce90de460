// RequestSubmitter: the one way a validated request of either API (ternserve.v1 Classify, the Open
// Inference Protocol's ModelInfer) reaches the dispatcher, and the one place its answer is counted
// (Prometheus metrics and the OIP statistics). It also authenticates every call of both services
// (--auth_token_file), counting refusals in the metrics.
//
// A request of N images becomes N ClassifyTasks sharing one ClassifyCall and one deadline; the
// scheduler may batch them with other requests' images or split them over batches. If the queue
// takes only some of them (it fills up midway), the rest are finished at once with the dispatcher's
// refusal, so the call still completes exactly once, when its accepted images have run. A call
// whose client gives up (its CancelFlag set) is taken out of the queue by RemoveCancelled.
//
// From StopAdmitting on (the start of shutdown), every new RPC of both services is refused
// UNAVAILABLE in Admit; RPCs already admitted (open streams) go on, their new messages refused
// by the draining dispatcher.
//
// Ownership: borrows the dispatcher, the clock, the metrics, the statistics and the authenticator,
// which must outlive it. Thread-safe: Submit is called concurrently by gRPC's threads; its state is
// constant but for the admitting flag (an atomic).
#ifndef TERNSERVE_SERVER_REQUEST_SUBMITTER_H_
#define TERNSERVE_SERVER_REQUEST_SUBMITTER_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "scheduler/clock.h"
#include "scheduler/dispatcher.h"
#include "server/classify_task.h"
#include "server/inference_statistics.h"
#include "server/metrics.h"
#include "server/raw_rpc.h"
#include "server/token_auth.h"

namespace ternserve {

class RequestSubmitter {
 public:
  // Records the answer's final status in the metrics and statistics. The done callback must call
  // it exactly once, with the status it answers with, before the answer goes out (so that whoever
  // got the answer and then reads the metrics sees it counted).
  using Record = absl::FunctionRef<void(const absl::Status&)>;
  // Gets every image's result, in image order, once all have finished.
  using DoneCallback =
      absl::AnyInvocable<void(const std::vector<ImageResult>& results, Record record)>;

  // `metrics` and `statistics` may be null (nothing is recorded there); `auth` null lets every
  // call in.
  RequestSubmitter(Dispatcher* dispatcher, Clock* clock, ServerMetrics* metrics,
                   InferenceStatistics* statistics, const TokenAuthenticator* auth = nullptr);

  // OK if a new RPC may proceed; else UNAVAILABLE (shutting down) or UNAUTHENTICATED, counted as
  // a received request answered so.
  absl::Status Admit(const grpc::CallbackServerContext& context) const;
  // From now on Admit refuses every RPC with UNAVAILABLE. Idempotent.
  void StopAdmitting() { admitting_.store(false, std::memory_order_release); }

  // Parses a request read off the wire as bytes (raw_rpc.h). If they are not one: counted as a
  // received request answered INVALID_ARGUMENT, which is returned.
  absl::Status ParseReceived(const grpc::ByteBuffer& raw,
                             google::protobuf::MessageLite* request) const;

  // The start of a unary classification call on either API: its reactor, which takes the call's
  // queued work out of the queue when the client gives up (RemoveCancelled); then the call
  // admitted and its bytes parsed into a new `Request`. Returns the request, or null when the
  // reactor has already been answered with the refusal.
  RawUnaryReactor* NewUnaryReactor(grpc::ByteBuffer* response) const {
    return new RawUnaryReactor(response, [this] { RemoveCancelled(); });
  }
  template <typename Request>
  std::unique_ptr<Request> StartUnaryCall(const grpc::CallbackServerContext& context,
                                          const grpc::ByteBuffer& raw,
                                          RawUnaryReactor* reactor) const {
    absl::Status status = Admit(context);
    auto request = std::make_unique<Request>();
    if (status.ok()) status = ParseReceived(raw, request.get());
    if (status.ok()) return request;
    reactor->Answer(status);
    return nullptr;
  }

  // When a request arrived, for timing: call on arrival, then OnReceived or OnInvalid follow.
  absl::Time Now() const { return clock_->Now(); }
  // A request was read off the wire (before validation).
  void OnReceived() const;
  // A received request failed validation and is answered `status` without being queued.
  void OnInvalid(const absl::Status& status) const;

  // Queues `images` (each 784 pixels, valid until `on_done` has run) as one call. `on_done` runs
  // exactly once: on a worker thread, on this one if the dispatcher refuses every image, or on
  // the one that calls RemoveCancelled. `cancelled` (may be null) is the flag the call's reactor
  // sets when the client gives up.
  // `min_accuracy` is the request's accuracy floor (0: none), shared by its images.
  void Submit(absl::Time arrival, absl::Time deadline, double min_accuracy,
              absl::Span<const absl::Span<const float>> images, DoneCallback on_done,
              CancelFlag cancelled = nullptr) const;

  // A reactor has set its CancelFlag: its calls' queued images are finished at once, CANCELLED,
  // unrun (Dispatcher::RemoveCancelled).
  void RemoveCancelled() const { dispatcher_->RemoveCancelled(); }

 private:
  // Constant after construction.
  Dispatcher* const dispatcher_;
  Clock* const clock_;
  ServerMetrics* const metrics_;
  InferenceStatistics* const statistics_;
  const TokenAuthenticator* const auth_;

  std::atomic<bool> admitting_{true};
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_REQUEST_SUBMITTER_H_
