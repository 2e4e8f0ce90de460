// End-to-end reliability tests against the real ternserve binary:
//   - raw hostile bytes, sent with gRPC's generic stub (no generated serializers) to every RPC of
//     both services, get INVALID_ARGUMENT with a message that says the request could not be
//     parsed (never UNIMPLEMENTED), streams go on after a bad message, and the server keeps
//     serving;
//   - requests whose client cancels, or whose gRPC deadline passes, while they wait in the queue
//     are taken out of it unrun, counted once (ternserve_slo_total{outcome="cancelled"}, or
//     "dropped" for an expired deadline: a miss), and take no place in the queue or in a batch.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "ternserve/v1/classifier.grpc.pb.h"
#include "tests/e2e/server_fixture.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (!buffer.Dump(&slices).ok()) return bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

// Runs one completion-queue operation to its end; returns its ok.
bool Await(grpc::CompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  return cq->Next(&tag, &ok) && ok;
}

// One unary call of `method` with `bytes` as its request, byte for byte.
grpc::Status CallRaw(grpc::GenericStub* stub, const std::string& method, const std::string& bytes,
                     std::string* response) {
  auto context = ContextWithDeadline();
  grpc::CompletionQueue cq;
  const grpc::ByteBuffer request = ToBuffer(bytes);
  grpc::ByteBuffer reply;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> call =
      stub->PrepareUnaryCall(context.get(), method, request, &cq);
  call->StartCall();
  call->Finish(&reply, &status, nullptr);
  Await(&cq);
  cq.Shutdown();
  while (Await(&cq)) {
  }
  if (response != nullptr) *response = FromBuffer(reply);
  return status;
}

// A bidirectional stream of `method` carrying raw bytes, one operation at a time.
class RawStream {
 public:
  RawStream(grpc::GenericStub* stub, const std::string& method)
      : context_(ContextWithDeadline()), call_(stub->PrepareCall(context_.get(), method, &cq_)) {
    call_->StartCall(nullptr);
    started_ = Await(&cq_);
  }
  ~RawStream() {
    cq_.Shutdown();
    while (Await(&cq_)) {
    }
  }

  bool started() const { return started_; }
  bool Write(const std::string& bytes) {
    call_->Write(ToBuffer(bytes), nullptr);
    return Await(&cq_);
  }
  bool Read(std::string* bytes) {
    grpc::ByteBuffer buffer;
    call_->Read(&buffer, nullptr);
    if (!Await(&cq_)) return false;
    *bytes = FromBuffer(buffer);
    return true;
  }
  grpc::Status Finish() {
    call_->WritesDone(nullptr);
    Await(&cq_);
    grpc::Status status;
    call_->Finish(&status, nullptr);
    Await(&cq_);
    return status;
  }

 private:
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
};

struct UnaryMethod {
  std::string path;          // /package.Service/Method
  std::string request_type;  // the message the server parses
  bool counted;              // a classification request: counted in ternserve_requests_*
};

const std::vector<UnaryMethod>& UnaryMethods() {
  static const auto* methods = new std::vector<UnaryMethod>{
      {"/ternserve.v1.Classifier/Classify", "ternserve.v1.ClassifyRequest", true},
      {"/ternserve.v1.Classifier/GetModelInfo", "ternserve.v1.GetModelInfoRequest", false},
      {"/inference.GRPCInferenceService/ServerLive", "inference.ServerLiveRequest", false},
      {"/inference.GRPCInferenceService/ServerReady", "inference.ServerReadyRequest", false},
      {"/inference.GRPCInferenceService/ModelReady", "inference.ModelReadyRequest", false},
      {"/inference.GRPCInferenceService/ServerMetadata", "inference.ServerMetadataRequest", false},
      {"/inference.GRPCInferenceService/ModelMetadata", "inference.ModelMetadataRequest", false},
      {"/inference.GRPCInferenceService/ModelInfer", "inference.ModelInferRequest", true},
      {"/inference.GRPCInferenceService/ModelConfig", "inference.ModelConfigRequest", false},
      {"/inference.GRPCInferenceService/ModelStatistics", "inference.ModelStatisticsRequest",
       false},
      {"/inference.GRPCInferenceService/RepositoryIndex", "inference.RepositoryIndexRequest",
       false},
  };
  return *methods;
}

// Bytes no protobuf message parses from, whatever its fields.
std::vector<std::pair<std::string, std::string>> Unparsable() {
  const std::string request = ImageRequest(0).SerializeAsString();
  return {
      {"a length-delimited field cut short", std::string("\x0a\x05\x61", 3)},
      {"a tag whose varint never ends", std::string(11, '\xff')},
      {"field number 0", std::string("\x00\x01", 2)},
      {"a group that never ends", std::string("\x0b\x08\x01", 3)},
      {"a real ClassifyRequest truncated mid-pixels", request.substr(0, request.size() / 2)},
  };
}

class ServerReliabilityE2eTest : public ServerE2eTest {
 protected:
  void SetUp() override {
    ServerE2eTest::SetUp();
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    generic_ = std::make_unique<grpc::GenericStub>(channel_);
    oip_ = inference::GRPCInferenceService::NewStub(channel_);
    model_ = GetReference().bundle->metadata().model_name;
  }

  // A good request on each API is answered right.
  void ExpectServing() {
    absl::StatusOr<v1::ClassifyResponse> response =
        client_->Classify(ImageRequest(3), absl::Seconds(30));
    ASSERT_TRUE(response.ok()) << response.status();
    ExpectMatchesReference(*response, 3);
    inference::ModelInferResponse infer;
    grpc::Status oip =
        oip_->ModelInfer(ContextWithDeadline().get(), OipImageRequest(model_, 0, 2), &infer);
    ASSERT_TRUE(oip.ok()) << oip.error_message();
    ASSERT_EQ(infer.outputs_size(), 1);
    EXPECT_THAT(infer.outputs(0).shape(), ::testing::ElementsAre(2, 10));
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> generic_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> oip_;
  std::string model_;
};

TEST_F(ServerReliabilityE2eTest, UnparsableBytesGetInvalidArgumentOnEveryUnaryRpc) {
  int counted = 0;
  for (const UnaryMethod& method : UnaryMethods()) {
    for (const auto& [what, bytes] : Unparsable()) {
      SCOPED_TRACE(absl::StrCat(method.path, ": ", what));
      std::string response;
      const grpc::Status status = CallRaw(generic_.get(), method.path, bytes, &response);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr("could not be parsed"));
      EXPECT_THAT(status.error_message(), HasSubstr(method.request_type));
      EXPECT_THAT(status.error_message(), HasSubstr(absl::StrCat(bytes.size(), " bytes")));
      counted += method.counted ? 1 : 0;
    }
  }
  // Each unparsable classification request was received and answered INVALID_ARGUMENT once.
  EXPECT_EQ(Metric("ternserve_requests_received_total"), counted);
  EXPECT_EQ(Metric(R"(ternserve_requests_total{code="INVALID_ARGUMENT"})"), counted);
  ExpectServing();
}

TEST_F(ServerReliabilityE2eTest, RandomBytesGetAPreciseAnswerOnEveryUnaryRpc) {
  std::mt19937 random(20261203);
  std::uniform_int_distribution<int> length(0, 300);
  std::uniform_int_distribution<int> byte(0, 255);
  int counted = 0;
  int unparsable = 0;
  for (int round = 0; round < 40; ++round) {
    for (const UnaryMethod& method : UnaryMethods()) {
      std::string bytes(static_cast<size_t>(length(random)), '\0');
      for (char& c : bytes) c = static_cast<char>(byte(random));
      SCOPED_TRACE(absl::StrCat(method.path, ", round ", round, ", ", bytes.size(), " bytes"));
      std::string response;
      const grpc::Status status = CallRaw(generic_.get(), method.path, bytes, &response);
      // Random bytes occasionally are a valid message (unknown fields are allowed); then the RPC
      // answers it as it would any request: OK for a metadata RPC without a model name, else the
      // precise refusal. Never UNIMPLEMENTED, UNKNOWN or INTERNAL, and never a bare code.
      const grpc::StatusCode code = status.error_code();
      EXPECT_THAT(code, ::testing::AnyOf(grpc::StatusCode::OK, grpc::StatusCode::INVALID_ARGUMENT,
                                         grpc::StatusCode::NOT_FOUND))
          << status.error_message();
      if (!status.ok()) {
        EXPECT_FALSE(status.error_message().empty());
      }
      if (method.counted) {
        ++counted;
        EXPECT_NE(code, grpc::StatusCode::OK);  // nothing random is a valid image request
      }
      if (absl::StrContains(status.error_message(), "could not be parsed")) ++unparsable;
    }
  }
  EXPECT_GT(unparsable, 100) << "the random bytes mostly parsed; the test is too weak";
  EXPECT_EQ(Metric("ternserve_requests_received_total"), counted);
  ExpectServing();
}

TEST_F(ServerReliabilityE2eTest, StreamsAnswerABadMessageAndGoOn) {
  const std::string bad = Unparsable().front().second;
  {
    RawStream stream(generic_.get(), "/ternserve.v1.Classifier/ClassifyStream");
    ASSERT_TRUE(stream.started());
    ASSERT_TRUE(stream.Write(bad));
    ASSERT_TRUE(stream.Write(ImageRequest(5).SerializeAsString()));
    for (int i = 0; i < 2; ++i) {
      std::string bytes;
      ASSERT_TRUE(stream.Read(&bytes));
      v1::ClassifyResponse response;
      ASSERT_TRUE(response.ParseFromString(bytes));
      if (response.request_id().empty()) {  // the bad one: it has no id
        EXPECT_EQ(response.status().code(), grpc::StatusCode::INVALID_ARGUMENT);
        EXPECT_THAT(response.status().message(), HasSubstr("could not be parsed"));
        EXPECT_THAT(response.status().message(), HasSubstr("ternserve.v1.ClassifyRequest"));
      } else {
        EXPECT_EQ(response.status().code(), 0) << response.status().message();
        ExpectMatchesReference(response, 5);
      }
    }
    const grpc::Status finished = stream.Finish();
    EXPECT_TRUE(finished.ok()) << finished.error_message();
  }
  {
    RawStream stream(generic_.get(), "/inference.GRPCInferenceService/ModelStreamInfer");
    ASSERT_TRUE(stream.started());
    ASSERT_TRUE(stream.Write(bad));
    inference::ModelInferRequest good = OipImageRequest(model_, 0, 1);
    good.set_id("good");
    ASSERT_TRUE(stream.Write(good.SerializeAsString()));
    for (int i = 0; i < 2; ++i) {
      std::string bytes;
      ASSERT_TRUE(stream.Read(&bytes));
      inference::ModelStreamInferResponse response;
      ASSERT_TRUE(response.ParseFromString(bytes));
      if (response.infer_response().id() == "good") {
        EXPECT_EQ(response.error_message(), "");
        EXPECT_EQ(response.infer_response().outputs_size(), 1);
      } else {
        EXPECT_THAT(response.error_message(), HasSubstr("could not be parsed"));
        EXPECT_THAT(response.error_message(), HasSubstr("inference.ModelInferRequest"));
        EXPECT_EQ(response.infer_response().parameters().at("code").int64_param(),
                  static_cast<int64_t>(grpc::StatusCode::INVALID_ARGUMENT));
      }
    }
    const grpc::Status finished = stream.Finish();
    EXPECT_TRUE(finished.ok()) << finished.error_message();
  }
  EXPECT_EQ(Metric(R"(ternserve_requests_total{code="INVALID_ARGUMENT"})"), 2);
  ExpectServing();
}

// Requests wait in the queue until 1024 are there (fixed policy, an hour's queue delay), so a
// test decides when they run: those it cancels must leave the queue unrun.
class ServerCancellationE2eTest : public ServerReliabilityE2eTest {
 protected:
  static constexpr int kBatch = 1024;
  void SetUp() override {
    max_batch_ = kBatch;
    flags_.push_back("--max_queue_delay_ms=3600000");
    flags_.push_back(absl::StrCat("--max_queue=", kBatch));
    ServerReliabilityE2eTest::SetUp();
  }
};

TEST_F(ServerCancellationE2eTest, CancelledAndExpiredRequestsLeaveTheQueueUnrun) {
  auto stub = v1::Classifier::NewStub(channel_);
  // 1. 100 requests whose gRPC deadline passes while they wait: the client sees
  //    DEADLINE_EXCEEDED; the server removes them when gRPC cancels the calls.
  {
    AsyncClassifyCalls expiring(stub.get(), 100, absl::Seconds(1));
    ASSERT_TRUE(WaitForMetric("ternserve_queue_depth", 100, absl::Seconds(30)).ok());
    const std::map<grpc::StatusCode, int> codes = expiring.Wait();
    EXPECT_EQ(codes.at(grpc::StatusCode::DEADLINE_EXCEEDED), 100);
  }
  // Their deadline passed while they waited: misses (dropped), answered DEADLINE_EXCEEDED.
  const absl::Status expired = WaitForMetric(
      R"(ternserve_requests_total{code="DEADLINE_EXCEEDED"})", 100, absl::Seconds(30));
  ASSERT_TRUE(expired.ok()) << expired;
  EXPECT_EQ(Metric(R"(ternserve_slo_total{outcome="dropped"})"), 100);
  EXPECT_EQ(Metric("ternserve_queue_depth"), 0);

  // 2. 1,000 queued requests that their client cancels.
  {
    AsyncClassifyCalls cancelled(stub.get(), 1000, absl::Seconds(120));
    ASSERT_TRUE(WaitForMetric("ternserve_queue_depth", 1000, absl::Seconds(30)).ok());
    cancelled.CancelAll();
    const std::map<grpc::StatusCode, int> codes = cancelled.Wait();
    EXPECT_EQ(codes.at(grpc::StatusCode::CANCELLED), 1000);
  }
  const absl::Status removed =
      WaitForMetric(R"(ternserve_slo_total{outcome="cancelled"})", 1000, absl::Seconds(30));
  ASSERT_TRUE(removed.ok()) << removed;
  EXPECT_EQ(Metric("ternserve_queue_depth"), 0);
  // Each counted once.
  EXPECT_EQ(Metric(R"(ternserve_requests_total{code="CANCELLED"})"), 1000);
  EXPECT_EQ(Metric(R"(ternserve_requests_total{code="DEADLINE_EXCEEDED"})"), 100);
  EXPECT_EQ(Metric("ternserve_requests_received_total"), 1100);

  // 3. A stream with 50 queued requests, cancelled by its client.
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    auto stream = stub->ClassifyStream(&context);
    for (int i = 0; i < 50; ++i) {
      v1::ClassifyRequest request = ImageRequest(i % kE2eImages);
      request.set_latency_slo_ms(60000);
      ASSERT_TRUE(stream->Write(request));
    }
    ASSERT_TRUE(WaitForMetric("ternserve_queue_depth", 50, absl::Seconds(30)).ok());
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  ASSERT_TRUE(
      WaitForMetric(R"(ternserve_slo_total{outcome="cancelled"})", 1050, absl::Seconds(30)).ok());
  EXPECT_EQ(Metric("ternserve_queue_depth"), 0);

  // Nothing of the 1,150 ran: no batch yet.
  EXPECT_EQ(Metric("ternserve_batch_size_count"), 0);
  // They left no trace in the queue: a full batch of live requests fits in --max_queue (as large
  // as the batch), runs as one batch, and every request in it is answered OK.
  {
    AsyncClassifyCalls live(stub.get(), kBatch, absl::Seconds(120));
    const std::map<grpc::StatusCode, int> codes = live.Wait();
    EXPECT_EQ(codes.at(grpc::StatusCode::OK), kBatch);
    EXPECT_EQ(codes.size(), 1u);
  }
  EXPECT_EQ(Metric("ternserve_batch_size_count"), 1);
  EXPECT_EQ(Metric("ternserve_batch_size_sum"), kBatch);
  EXPECT_EQ(Metric(R"(ternserve_slo_total{outcome="cancelled"})"), 1050);
  EXPECT_EQ(Metric(R"(ternserve_slo_total{outcome="dropped"})"), 100);
}

// A stream stops reading at QueuedBidiReactor::kMaxOutstanding unanswered requests: a client
// that sends faster than the server answers is held back by flow control, not queued in memory.
class ServerStreamBackpressureE2eTest : public ServerReliabilityE2eTest {
 protected:
  void SetUp() override {
    max_batch_ = 4096;  // with an hour's queue delay: nothing runs during the test
    flags_.push_back("--max_queue_delay_ms=3600000");
    flags_.push_back("--max_queue=4096");
    ServerReliabilityE2eTest::SetUp();
  }
};

TEST_F(ServerStreamBackpressureE2eTest, AStreamReadsNoMoreThanItsOutstandingLimit) {
  constexpr int kLimit = 1024;  // QueuedBidiReactor::kMaxOutstanding
  auto stub = v1::Classifier::NewStub(channel_);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  auto stream = stub->ClassifyStream(&context);
  // Past the limit, flow control (HTTP/2 windows at their initial size) blocks the writes: they
  // run on a thread of their own, which the cancellation below releases.
  std::atomic<int> written{0};
  std::thread writer([&] {
    for (int i = 0; i < kLimit + 100; ++i) {
      v1::ClassifyRequest request = ImageRequest(i % kE2eImages);
      request.set_latency_slo_ms(60000);
      if (!stream->Write(request)) return;
      ++written;
    }
  });
  ASSERT_TRUE(WaitForMetric("ternserve_queue_depth", kLimit, absl::Seconds(60)).ok());
  // A unary call on a connection of its own is read and queued; the stream's other messages,
  // written before it (or waiting to be), are not: the stream has stopped reading.
  grpc::ChannelArguments own_connection;
  own_connection.SetInt("ternserve.test.probe", 1);  // different args: no shared subchannel
  auto probe_stub = v1::Classifier::NewStub(
      grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), own_connection));
  AsyncClassifyCalls probe(probe_stub.get(), 1, absl::Seconds(120));
  ASSERT_TRUE(WaitForMetric("ternserve_queue_depth", kLimit + 1, absl::Seconds(60)).ok());
  EXPECT_EQ(Metric("ternserve_requests_received_total"), kLimit + 1);
  EXPECT_EQ(Metric("ternserve_queue_depth"), kLimit + 1);
  EXPECT_GT(written.load(), kLimit) << "the client did not get past the limit; test too weak";
  context.TryCancel();  // takes the stream's 1,024 out of the queue, and ends the writes
  writer.join();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(
      WaitForMetric(R"(ternserve_slo_total{outcome="cancelled"})", kLimit, absl::Seconds(30)).ok());
  EXPECT_EQ(Metric("ternserve_queue_depth"), 1);
  server_.Signal(SIGTERM);  // the drain runs the probe
  EXPECT_EQ(probe.Wait().at(grpc::StatusCode::OK), 1);
  absl::StatusOr<int> code = server_.Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

}  // namespace
}  // namespace ternserve
