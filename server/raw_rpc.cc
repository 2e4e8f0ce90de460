// Raw RPCs. See raw_rpc.h.
#include "server/raw_rpc.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/grpc_status.h"

namespace ternserve {

absl::Status ParseRawMessage(const grpc::ByteBuffer& raw, google::protobuf::MessageLite* message) {
  grpc::ByteBuffer bytes(raw);  // shares the slices; Deserialize consumes its buffer
  const grpc::Status parsed =
      grpc::SerializationTraits<google::protobuf::MessageLite>::Deserialize(&bytes, message);
  if (parsed.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("the request could not be parsed: ", raw.Length(),
                                                 " bytes that are not a valid ",
                                                 message->GetTypeName(), " message"));
}

absl::Status SerializeRawMessage(const google::protobuf::MessageLite& message,
                                 grpc::ByteBuffer* raw) {
  bool own_buffer = false;
  const grpc::Status serialized =
      grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(message, raw,
                                                                          &own_buffer);
  if (serialized.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("cannot serialize the ", message.GetTypeName(),
                                          " response: ", serialized.error_message()));
}

RawUnaryReactor::RawUnaryReactor(grpc::ByteBuffer* response, absl::AnyInvocable<void()> on_cancel)
    : response_(response), on_cancel_(std::move(on_cancel)) {}

void RawUnaryReactor::Answer(const absl::Status& status,
                             const google::protobuf::MessageLite& response) {
  absl::Status answer = status;
  if (answer.ok()) answer = SerializeRawMessage(response, response_);
  Finish(ToGrpcStatus(answer));
}

void RawUnaryReactor::Answer(const absl::Status& status) { Finish(ToGrpcStatus(status)); }

void RawUnaryReactor::OnCancel() {
  cancelled_->store(true, std::memory_order_release);
  if (on_cancel_) on_cancel_();
}

}  // namespace ternserve
