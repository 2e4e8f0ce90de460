// The bad-input tests' server, calls and good requests. See bad_input_harness.h.
#include "tests/e2e/bad_input_harness.h"

#include <grpcpp/generic/generic_stub.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstring>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "models/bundle.h"
#include "models/fashion_mnist.h"
#include "models/ternary_engine.h"
#include "server/classify_response.h"

namespace ternserve::bad_input {
namespace {

constexpr char kTestImages[] = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
constexpr int kGoodTopK = 3;
constexpr float kTolerance = 1e-4f;

// The shipped bundle, test image 0 and its probabilities on kSubnet, computed once in-process
// with the server's default engine.
struct Reference {
  std::unique_ptr<Bundle> bundle;
  std::vector<float> pixels;
  std::vector<float> probabilities;
};

const Reference& GetReference() {
  static const Reference* reference = [] {
    auto* r = new Reference();
    absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(TERNSERVE_SHIPPED_BUNDLE);
    absl::StatusOr<ImageSet> images = ReadIdxImages(kTestImages);
    if (!bundle.ok() || !images.ok()) {
      ADD_FAILURE() << "reference: " << bundle.status() << "; " << images.status();
      return r;
    }
    r->bundle = *std::move(bundle);
    images->AppendImageAsFloat(0, &r->pixels);
    auto engine = TernaryEngine::Create(*r->bundle);
    if (!engine.ok()) {
      ADD_FAILURE() << "reference engine: " << engine.status();
      return r;
    }
    absl::StatusOr<LogitsView> logits = (*engine)->Run(kSubnet, r->pixels, 1);
    if (!logits.ok()) {
      ADD_FAILURE() << "reference run: " << logits.status();
      return r;
    }
    r->probabilities = Softmax(logits->row(0));
    return r;
  }();
  return *reference;
}

std::chrono::system_clock::time_point In20s() {
  return std::chrono::system_clock::now() + std::chrono::seconds(20);
}

}  // namespace

Outcome FromStatus(const grpc::Status& status) {
  return {status.error_code(), status.error_message()};
}

absl::Status TestServer::Start(std::vector<std::string> flags) {
  std::string tmpl = absl::StrCat(::testing::TempDir(), "/ternserve_bad_input_XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  dir = tmpl;
  port_file_ = dir + "/port";
  std::vector<std::string> argv = {TERNSERVE_SERVER_BIN,
                                   absl::StrCat("--bundle=", TERNSERVE_SHIPPED_BUNDLE),
                                   "--port=0",
                                   "--port_file=" + port_file_,
                                   "--metrics_port=-1",
                                   absl::StrCat("--policy=fixed:", kSubnet),
                                   "--profile_budget_s=1",
                                   "--max_batch=8"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return process_.Start(argv);
}

absl::Status TestServer::WaitUntilServing(absl::Duration timeout) {
  absl::StatusOr<std::string> written = testing::WaitForPortFile(process_, port_file_, timeout);
  if (!written.ok()) return written.status();
  int port = 0;
  std::istringstream(*written) >> port;
  address = absl::StrCat("127.0.0.1:", port);
  channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  classifier = v1::Classifier::NewStub(channel);
  oip = inference::GRPCInferenceService::NewStub(channel);
  return absl::OkStatus();
}

absl::StatusOr<int> TestServer::Stop() {
  if (process_.pid() <= 0) return absl::FailedPreconditionError("ternserve never started");
  process_.Signal(SIGTERM);
  return process_.Wait(absl::Seconds(30));
}

std::shared_ptr<grpc::Channel> TestServer::NewConnection() const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> TestServer::Context() const {
  return ContextWithAuthorization(authorization, !authorization.empty());
}

std::unique_ptr<grpc::ClientContext> TestServer::ContextWithAuthorization(absl::string_view value,
                                                                          bool present) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(In20s());
  if (present) context->AddMetadata("authorization", std::string(value));
  return context;
}

const std::string& ModelName() {
  static const std::string* name = new std::string(
      GetReference().bundle ? GetReference().bundle->metadata().model_name : "no bundle");
  return *name;
}

v1::ClassifyRequest GoodClassifyRequest() {
  v1::ClassifyRequest request;
  const std::vector<float>& pixels = GetReference().pixels;
  *request.mutable_pixels()->mutable_values() = {pixels.begin(), pixels.end()};
  request.set_top_k(kGoodTopK);
  request.set_latency_slo_ms(5000);
  request.set_request_id("good");
  return request;
}

inference::ModelInferRequest GoodInferRequest() {
  inference::ModelInferRequest request;
  request.set_model_name(ModelName());
  request.set_id("good");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  for (int64_t d : {1, 1, 28, 28}) input->add_shape(d);
  const std::vector<float>& pixels = GetReference().pixels;
  request.add_raw_input_contents(
      std::string(reinterpret_cast<const char*>(pixels.data()), pixels.size() * sizeof(float)));
  (*request.mutable_parameters())["timeout"].set_int64_param(5'000'000);
  return request;
}

void ExpectGoodClassifyAnswer(const v1::ClassifyResponse& response) {
  const Reference& ref = GetReference();
  ASSERT_EQ(response.top_k_size(), kGoodTopK);
  const std::vector<std::pair<int, float>> expected = TopK(ref.probabilities, kGoodTopK);
  for (int k = 0; k < kGoodTopK; ++k) {
    EXPECT_EQ(response.top_k(k).class_id(), expected[static_cast<size_t>(k)].first) << "rank " << k;
    EXPECT_NEAR(response.top_k(k).probability(), expected[static_cast<size_t>(k)].second,
                kTolerance);
  }
  EXPECT_EQ(response.subnet().id(), kSubnet);
  EXPECT_EQ(response.request_id(), "good");
}

void ExpectGoodInferAnswer(const inference::ModelInferResponse& response) {
  const Reference& ref = GetReference();
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  ASSERT_EQ(response.outputs(0).shape_size(), 2);
  EXPECT_EQ(response.outputs(0).shape(0), 1);
  EXPECT_EQ(response.outputs(0).shape(1), 10);
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  ASSERT_EQ(response.raw_output_contents(0).size(), 10 * sizeof(float));
  float probabilities[10];
  std::memcpy(probabilities, response.raw_output_contents(0).data(), sizeof probabilities);
  for (size_t c = 0; c < 10; ++c) {
    EXPECT_NEAR(probabilities[c], ref.probabilities.at(c), kTolerance) << "class " << c;
  }
  EXPECT_EQ(response.id(), "good");
  EXPECT_EQ(response.parameters().at("subnet_id").string_param(), absl::StrCat(kSubnet));
}

Outcome Classify(const TestServer& server, const v1::ClassifyRequest& request,
                 std::unique_ptr<grpc::ClientContext> context) {
  if (context == nullptr) context = server.Context();
  v1::ClassifyResponse response;
  return FromStatus(server.classifier->Classify(context.get(), request, &response));
}

Outcome Infer(const TestServer& server, const inference::ModelInferRequest& request,
              std::unique_ptr<grpc::ClientContext> context) {
  if (context == nullptr) context = server.Context();
  inference::ModelInferResponse response;
  return FromStatus(server.oip->ModelInfer(context.get(), request, &response));
}

Outcome CallRaw(const TestServer& server, const std::string& method, const std::string& bytes) {
  grpc::GenericStub stub(server.channel);
  std::unique_ptr<grpc::ClientContext> context = server.Context();
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(context.get(), method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  return FromStatus(status);
}

RawStreamResult RawStream(const TestServer& server, const std::string& method,
                          const std::vector<std::string>& messages) {
  grpc::GenericStub stub(server.channel);
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::ClientContext> context = server.Context();
  // One operation at a time, each waited for on the queue: no timing involved.
  auto wait = [&cq]() {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok;
  };
  RawStreamResult result;
  auto call = stub.PrepareCall(context.get(), method, &cq);
  call->StartCall(nullptr);
  if (wait()) {
    for (const std::string& bytes : messages) {
      grpc::Slice slice(bytes);
      call->Write(grpc::ByteBuffer(&slice, 1), nullptr);
      if (!wait()) break;
    }
    call->WritesDone(nullptr);
    wait();
    grpc::ByteBuffer answer;
    for (call->Read(&answer, nullptr); wait(); call->Read(&answer, nullptr)) {
      ++result.answers;
      std::vector<grpc::Slice> slices;
      std::string bytes;
      if (answer.Dump(&slices).ok()) {
        for (const grpc::Slice& slice : slices) {
          bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
        }
      }
      result.answer_bytes.push_back(std::move(bytes));
    }
  }
  call->Finish(&result.status, nullptr);
  wait();
  cq.Shutdown();
  while (wait()) {
  }
  return result;
}

Outcome ClassifyThenCancel(const TestServer& server) {
  std::unique_ptr<grpc::ClientContext> context = server.Context();
  const v1::ClassifyRequest request = GoodClassifyRequest();
  v1::ClassifyResponse response;
  grpc::Status status;
  absl::Notification done;
  server.classifier->async()->Classify(context.get(), &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  context->TryCancel();
  done.WaitForNotification();
  if (status.ok()) ExpectGoodClassifyAnswer(response);
  return FromStatus(status);
}

Outcome InferThenCancel(const TestServer& server) {
  std::unique_ptr<grpc::ClientContext> context = server.Context();
  const inference::ModelInferRequest request = GoodInferRequest();
  inference::ModelInferResponse response;
  grpc::Status status;
  absl::Notification done;
  server.oip->async()->ModelInfer(context.get(), &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  context->TryCancel();
  done.WaitForNotification();
  if (status.ok()) ExpectGoodInferAnswer(response);
  return FromStatus(status);
}

v1::ClassifyResponse ClassifyStreamResult::Answer(const std::string& request_id) const {
  for (const v1::ClassifyResponse& response : responses) {
    if (response.request_id() == request_id) return response;
  }
  ADD_FAILURE() << "no stream answer for request_id '" << request_id << "'";
  return {};
}

inference::ModelStreamInferResponse InferStreamResult::Answer(const std::string& id) const {
  for (const inference::ModelStreamInferResponse& response : responses) {
    if (response.infer_response().id() == id) return response;
  }
  ADD_FAILURE() << "no stream answer for id '" << id << "'";
  return {};
}

ClassifyStreamResult ClassifyStream(const TestServer& server,
                                    const std::vector<v1::ClassifyRequest>& requests,
                                    std::unique_ptr<grpc::ClientContext> context) {
  if (context == nullptr) context = server.Context();
  auto stream = server.classifier->ClassifyStream(context.get());
  // A write fails once the server has ended the stream; Finish then says why.
  for (const v1::ClassifyRequest& request : requests) {
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  ClassifyStreamResult result;
  for (v1::ClassifyResponse response; stream->Read(&response);)
    result.responses.push_back(response);
  result.status = stream->Finish();
  return result;
}

InferStreamResult InferStream(const TestServer& server,
                              const std::vector<inference::ModelInferRequest>& requests,
                              std::unique_ptr<grpc::ClientContext> context) {
  if (context == nullptr) context = server.Context();
  auto stream = server.oip->ModelStreamInfer(context.get());
  for (const inference::ModelInferRequest& request : requests) {
    if (!stream->Write(request)) break;
  }
  stream->WritesDone();
  InferStreamResult result;
  for (inference::ModelStreamInferResponse response; stream->Read(&response);) {
    result.responses.push_back(response);
  }
  result.status = stream->Finish();
  return result;
}

// The server finishes a stream only after the client half-closes (server/queued_bidi_reactor.h),
// and these streams never do: the cancel always wins, with no race.
Outcome ClassifyStreamThenCancel(const TestServer& server, int n) {
  std::unique_ptr<grpc::ClientContext> context = server.Context();
  auto stream = server.classifier->ClassifyStream(context.get());
  for (int i = 0; i < n; ++i) EXPECT_TRUE(stream->Write(GoodClassifyRequest())) << "write " << i;
  context->TryCancel();
  for (v1::ClassifyResponse response; stream->Read(&response);) {
  }
  return FromStatus(stream->Finish());
}

Outcome InferStreamThenCancel(const TestServer& server, int n) {
  std::unique_ptr<grpc::ClientContext> context = server.Context();
  auto stream = server.oip->ModelStreamInfer(context.get());
  for (int i = 0; i < n; ++i) EXPECT_TRUE(stream->Write(GoodInferRequest())) << "write " << i;
  context->TryCancel();
  for (inference::ModelStreamInferResponse response; stream->Read(&response);) {
  }
  return FromStatus(stream->Finish());
}

Outcome StreamAnswerOutcome(const inference::ModelStreamInferResponse& answer) {
  if (answer.error_message().empty()) return {grpc::StatusCode::OK, ""};
  const auto& parameters = answer.infer_response().parameters();
  const auto code = parameters.find("code");
  if (code == parameters.end()) return {grpc::StatusCode::UNKNOWN, answer.error_message()};
  return {static_cast<grpc::StatusCode>(code->second.int64_param()), answer.error_message()};
}

}  // namespace ternserve::bad_input
