// The one place where an absl::Status becomes a wire status: the gRPC status of an RPC, or the
// per-message ResponseStatus of ClassifyStream; and where a call's gRPC deadline is read. absl and
// gRPC share the google.rpc.Code numbering, so codes map one to one. Stateless; thread-safe.
#ifndef TERNSERVE_SERVER_GRPC_STATUS_H_
#define TERNSERVE_SERVER_GRPC_STATUS_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "ternserve/v1/classifier.pb.h"

namespace ternserve {

grpc::Status ToGrpcStatus(const absl::Status& status);
void ToResponseStatus(const absl::Status& status, v1::ResponseStatus* out);

// The client's deadline, or InfiniteFuture when it set none.
absl::Time GrpcDeadline(const grpc::CallbackServerContext& context);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_GRPC_STATUS_H_
