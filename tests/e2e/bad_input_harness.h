// The harness of tests/e2e/bad_input_e2e_test.cc: a real `ternserve` (the shipped bundle, served on
// sub-net 0 only) on ephemeral ports with stubs of both APIs; the calls a bad-input row makes
// (unary, streams, raw bytes, cancels) reduced to the status that came back; and the good request
// of each API with its check against the in-process reference, which every row is followed by.
// Thread-compatible: one test thread drives it.
#ifndef TERNSERVE_TESTS_E2E_BAD_INPUT_HARNESS_H_
#define TERNSERVE_TESTS_E2E_BAD_INPUT_HARNESS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "inference/grpc_service.grpc.pb.h"
#include "ternserve/v1/classifier.grpc.pb.h"
#include "tests/testing/subprocess.h"

namespace ternserve::bad_input {

// The one token of the token server's --auth_token_file.
inline constexpr char kToken[] = "bad-input-e2e-token";
// The sub-net every answer comes from (--policy=fixed:0).
inline constexpr int kSubnet = 0;

// What came back: a call's status, or on a stream the status of the message under test.
struct Outcome {
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;
};
Outcome FromStatus(const grpc::Status& status);

// One ternserve process and its stubs.
class TestServer {
 public:
  // Starts ternserve with `flags` added to the harness's own (shipped bundle, --policy=fixed:0,
  // a 1 s start-up profile, ephemeral port, no metrics). Does not wait for it.
  absl::Status Start(std::vector<std::string> flags);
  // Waits for the port file, then connects the stubs.
  absl::Status WaitUntilServing(absl::Duration timeout);
  // SIGTERM, then its exit code.
  absl::StatusOr<int> Stop();
  bool running() { return !process_.Poll(); }

  // A context with a 20 s deadline and `authorization` as its metadata (none when empty).
  std::unique_ptr<grpc::ClientContext> Context() const;
  // The same with `value` as the authorization metadata instead, or none when !present.
  std::unique_ptr<grpc::ClientContext> ContextWithAuthorization(absl::string_view value,
                                                                bool present = true) const;

  // A channel on a TCP connection of its own (channels otherwise share one per address).
  std::shared_ptr<grpc::Channel> NewConnection() const;

  // What Context() sends: "Bearer <kToken>" on the token server, "" on the plain one.
  std::string authorization;
  std::string dir;      // a scratch directory of its own
  std::string address;  // 127.0.0.1:<port>
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Classifier::Stub> classifier;
  std::unique_ptr<inference::GRPCInferenceService::Stub> oip;

 private:
  testing::Subprocess process_;
  std::string port_file_;
};

// The model's name in the OIP (the shipped bundle's).
const std::string& ModelName();

// Test image 0 as pixels, top 3, a 5 s SLO, request_id "good".
v1::ClassifyRequest GoodClassifyRequest();
// Test image 0 as FP32 [1,1,28,28] in raw_input_contents, timeout 5 s, id "good".
inference::ModelInferRequest GoodInferRequest();
// The answers to those: OK-shaped and equal to the reference (top 3 / every probability).
void ExpectGoodClassifyAnswer(const v1::ClassifyResponse& response);
void ExpectGoodInferAnswer(const inference::ModelInferResponse& response);

// Unary calls, with `context` (server.Context() when null).
Outcome Classify(const TestServer& server, const v1::ClassifyRequest& request,
                 std::unique_ptr<grpc::ClientContext> context = nullptr);
Outcome Infer(const TestServer& server, const inference::ModelInferRequest& request,
              std::unique_ptr<grpc::ClientContext> context = nullptr);
// `bytes` as the request message of `method` ("/package.Service/Method").
Outcome CallRaw(const TestServer& server, const std::string& method, const std::string& bytes);
// A stream to `method` that writes `messages` as raw bytes, half-closes, reads every answer and
// finishes: its status and how many answers came.
struct RawStreamResult {
  grpc::Status status;
  int answers = 0;
  std::vector<std::string> answer_bytes;  // each answer, serialized, in the order read
};
RawStreamResult RawStream(const TestServer& server, const std::string& method,
                          const std::vector<std::string>& messages);
// Starts the call and cancels it at once (ClientContext::TryCancel): CANCELLED, or OK when the
// answer won the race; an OK answer must be the right one.
Outcome ClassifyThenCancel(const TestServer& server);
Outcome InferThenCancel(const TestServer& server);

// A stream that writes `requests`, half-closes, reads every answer and finishes.
struct ClassifyStreamResult {
  grpc::Status status;
  std::vector<v1::ClassifyResponse> responses;
  // The answer with `request_id`; fails the test (and returns an empty one) if there is none.
  v1::ClassifyResponse Answer(const std::string& request_id) const;
};
ClassifyStreamResult ClassifyStream(const TestServer& server,
                                    const std::vector<v1::ClassifyRequest>& requests,
                                    std::unique_ptr<grpc::ClientContext> context = nullptr);
struct InferStreamResult {
  grpc::Status status;
  std::vector<inference::ModelStreamInferResponse> responses;
  inference::ModelStreamInferResponse Answer(const std::string& id) const;
};
InferStreamResult InferStream(const TestServer& server,
                              const std::vector<inference::ModelInferRequest>& requests,
                              std::unique_ptr<grpc::ClientContext> context = nullptr);
// Streams that write `n` good requests and cancel without half-closing: the stream's status.
Outcome ClassifyStreamThenCancel(const TestServer& server, int n);
Outcome InferStreamThenCancel(const TestServer& server, int n);

// The code an OIP stream answer carries: OK without error_message, else its "code" parameter.
Outcome StreamAnswerOutcome(const inference::ModelStreamInferResponse& answer);

}  // namespace ternserve::bad_input

#endif  // TERNSERVE_TESTS_E2E_BAD_INPUT_HARNESS_H_
