// The one place where an absl::Status becomes a wire status: the gRPC status of an RPC, or the
// per-message ResponseStatus of ClassifyStream. absl and gRPC share the google.rpc.Code numbering,
// so codes map one to one. Stateless; thread-safe.
#ifndef TERNSERVE_SERVER_GRPC_STATUS_H_
#define TERNSERVE_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "ternserve/v1/classifier.pb.h"

namespace ternserve {

grpc::Status ToGrpcStatus(const absl::Status& status);
void ToResponseStatus(const absl::Status& status, v1::ResponseStatus* out);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_GRPC_STATUS_H_
