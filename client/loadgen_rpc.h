// The load generator's RPCs, one implementation for both APIs (loadgen_messages.h): the start-up
// handshake, and connections that send requests (a unary call each, or messages on one stream) and
// hand every answer to a LoadgenSink. The APIs differ only in their messages and stubs; the call
// and stream plumbing is written once, as templates over the API (loadgen_rpc.cc).
//
// Ownership: the LoadgenRpc owns the images its requests borrow; it must outlive its connections,
// and the sink must outlive every answer (see Loadgen::in_flight()).
#ifndef TERNSERVE_CLIENT_LOADGEN_RPC_H_
#define TERNSERVE_CLIENT_LOADGEN_RPC_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "client/loadgen_messages.h"
#include "client/loadgen_plan.h"
#include "models/fashion_mnist.h"

namespace ternserve {

// Where answers go. Called on gRPC threads, concurrently.
class LoadgenSink {
 public:
  virtual ~LoadgenSink() = default;
  // A unary call of `record` finished (its status in answer.code).
  virtual void OnAnswer(RequestRecord* record, const LoadgenAnswer& answer) = 0;
  // A stream message arrived; answer.request_id names the request.
  virtual void OnStreamAnswer(const LoadgenAnswer& answer) = 0;
  // A stream finished (after its last OnStreamAnswer).
  virtual void OnStreamDone() = 0;
};

// One connection: a channel and, in stream mode, its open stream. Thread-safe: Send,
// CloseWrites and Cancel come from the pacing thread while gRPC threads complete its calls.
class LoadgenConnection {
 public:
  virtual ~LoadgenConnection() = default;
  // Sends the request of `record` (the index of the record in the plan is its stream id). The
  // answer goes to the sink, exactly once (unless the stream broke: then never).
  virtual void Send(RequestRecord* record, int64_t index) = 0;
  // Stream mode: half-closes once every queued message has gone out; the sink's OnStreamDone
  // follows when the server finishes. A no-op for unary connections.
  virtual void CloseWrites() = 0;
  // Stream mode: cancels the stream (a no-op once it finished, and for unary connections).
  virtual void Cancel() = 0;
};

struct LoadgenRpcOptions {
  LoadgenApi api = LoadgenApi::kTernserve;
  // OIP: the model to ask for; empty means the server's only one, learnt in Handshake.
  std::string model_name;
  // Deadline of each unary call.
  absl::Duration timeout = absl::Seconds(10);
  // The floors of the run's floor mix: a record's floor f > 0 sends floors[f - 1] (RequestRecord::
  // floor) as its min_accuracy.
  std::vector<double> floors;
  ClientSecurity security;
};

// Thread-compatible: Handshake before any NewConnection; the connections are thread-safe.
class LoadgenRpc {
 public:
  // Prepares every image of `images` as a message of `options.api`.
  static std::unique_ptr<LoadgenRpc> Create(const LoadgenRpcOptions& options,
                                            const ImageSet& images, LoadgenSink* sink);
  virtual ~LoadgenRpc() = default;

  // Asks the server over `channel`, by `deadline`, which model it serves: the start-up check.
  //   ternserve: GetModelInfo's model name; any answer but UNAVAILABLE, DEADLINE_EXCEEDED or
  //     UNAUTHENTICATED means a server is there (the name is then "unknown").
  //   oip: ModelMetadata of model_name, or with none RepositoryIndex, whose one model becomes the
  //     model every request names. NOT_FOUND for an unknown model, FAILED_PRECONDITION when the
  //     server serves no model or several.
  // Errors keep the gRPC code and say which call failed.
  virtual absl::StatusOr<std::string> Handshake(const std::shared_ptr<grpc::Channel>& channel,
                                                absl::Time deadline) = 0;

  virtual std::unique_ptr<LoadgenConnection> NewConnection(std::shared_ptr<grpc::Channel> channel,
                                                           bool stream) = 0;
};

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_LOADGEN_RPC_H_
