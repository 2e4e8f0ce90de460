// Raw RPCs: both services take their requests as bytes (gRPC's raw callback methods) and parse
// them here, so that bytes which are not the request message get INVALID_ARGUMENT with a message
// that says so. With generated typed methods, gRPC 1.51's callback API answers a request it cannot
// deserialize with UNIMPLEMENTED and an empty message, which tells the client the method does not
// exist. The wire format is unchanged: generated stubs (ours, Triton's, KServe's) work as before.
//
// RawUnaryReactor is the reactor of a unary call answered later, from any thread: it serializes
// the response into gRPC's response buffer, and tells the server when the client gives up
// (OnCancel: a cancellation or an expired gRPC deadline), so that the call's queued work is
// removed instead of computed.
#ifndef TERNSERVE_SERVER_RAW_RPC_H_
#define TERNSERVE_SERVER_RAW_RPC_H_

#include <google/protobuf/message_lite.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "server/classify_task.h"
#include "server/grpc_status.h"

namespace ternserve {

// Parses `raw` as `message`. INVALID_ARGUMENT, naming the message type and the size, when the
// bytes are not one.
absl::Status ParseRawMessage(const grpc::ByteBuffer& raw, google::protobuf::MessageLite* message);
// Serializes `message` into `raw` (INTERNAL if that fails).
absl::Status SerializeRawMessage(const google::protobuf::MessageLite& message,
                                 grpc::ByteBuffer* raw);

class RawUnaryReactor final : public grpc::ServerUnaryReactor {
 public:
  // `response` is gRPC's response buffer for the call (valid until OnDone). `on_cancel` runs once
  // if the client gives up before the call is finished, after cancelled() is set.
  RawUnaryReactor(grpc::ByteBuffer* response, absl::AnyInvocable<void()> on_cancel);

  // Set when the client gives up; hand it to the work the call queues.
  CancelFlag cancelled() const { return cancelled_; }

  // Finishes the call with `status`, and `response` (serialized) when the status is OK. Exactly
  // once, from any thread.
  void Answer(const absl::Status& status, const google::protobuf::MessageLite& response);
  void Answer(const absl::Status& status);  // an error: no response

  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  ~RawUnaryReactor() override = default;

  grpc::ByteBuffer* const response_;
  const std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
  absl::AnyInvocable<void()> on_cancel_;  // run by OnCancel only (gRPC calls it at most once)
};

// Serves one raw unary call whose answer is ready at once: `admit` (an absl::Status) decides if
// the call may proceed, the bytes are parsed as a Request, `handler(request, &response)` (an
// absl::Status) answers it, and the call finishes with that status and the response.
template <typename Request, typename Response, typename Handler>
grpc::ServerUnaryReactor* AnswerRawNow(grpc::CallbackServerContext* context,
                                       const absl::Status& admit, const grpc::ByteBuffer* raw,
                                       grpc::ByteBuffer* out, Handler&& handler) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = admit;
  Request request;
  Response response;
  if (status.ok()) status = ParseRawMessage(*raw, &request);
  if (status.ok()) status = handler(request, &response);
  if (status.ok()) status = SerializeRawMessage(response, out);
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_RAW_RPC_H_
