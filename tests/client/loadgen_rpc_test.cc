// The load generator over the OIP (client/loadgen_rpc.h through client/loadgen.h) against an
// in-process fake GRPCInferenceService: the start-up check learns the model, unary calls and stream
// messages carry what the fake expects, and its answers (successes, unary errors, stream errors
// with their code) land in the report. The real server is exercised in tests/e2e.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/channel.h"
#include "client/loadgen.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"

namespace ternserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using ::testing::HasSubstr;

constexpr char kModel[] = "fake-model";
constexpr char kToken[] = "t0ken";
// The fake refuses requests whose timeout is below this (µs) with RESOURCE_EXHAUSTED: between the
// two SLOs of the test's mix (50 ms and 1 s), and above either read as a count of ms.
constexpr int64_t kRefuseBelowUs = 100'000;

// Answers every well-formed request for one image with class 9 from sub-net 5, as ternserve
// answers the classification extension; refuses short timeouts. Thread-safe (gRPC's sync server
// calls it from its pool).
class FakeOip final : public inference::GRPCInferenceService::Service {
 public:
  explicit FakeOip(bool require_token, bool hold_streams = false)
      : require_token_(require_token), hold_streams_(hold_streams) {}

  grpc::Status RepositoryIndex(grpc::ServerContext* context,
                               const inference::RepositoryIndexRequest*,
                               inference::RepositoryIndexResponse* response) override {
    if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
    auto* model = response->add_models();
    model->set_name(kModel);
    model->set_version("1");
    model->set_state("READY");
    return grpc::Status::OK;
  }

  grpc::Status ModelMetadata(grpc::ServerContext* context,
                             const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
    if (request->name() != kModel) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no model");
    response->set_name(kModel);
    return grpc::Status::OK;
  }

  grpc::Status ModelInfer(grpc::ServerContext* context, const ModelInferRequest* request,
                          ModelInferResponse* response) override {
    if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
    const grpc::Status status = Answer(*request, response);
    ++(status.ok() ? unary_ok_ : unary_failed_);
    return status;
  }

  grpc::Status ModelStreamInfer(grpc::ServerContext* context,
                                grpc::ServerReaderWriter<inference::ModelStreamInferResponse,
                                                         ModelInferRequest>* stream) override {
    if (grpc::Status auth = Authenticate(*context); !auth.ok()) return auth;
    if (hold_streams_) streams_released_.WaitForNotification();
    ModelInferRequest request;
    while (stream->Read(&request)) {
      {
        absl::MutexLock lock(&mu_);
        stream_timeouts_us_.push_back(request.parameters().count("timeout") == 0
                                          ? -1
                                          : request.parameters().at("timeout").int64_param());
      }
      inference::ModelStreamInferResponse message;
      const grpc::Status status = Answer(request, message.mutable_infer_response());
      if (!status.ok()) {
        message.set_error_message(status.error_message());
        ModelInferResponse* failed = message.mutable_infer_response();
        failed->Clear();
        failed->set_id(request.id());
        (*failed->mutable_parameters())["code"].set_int64_param(status.error_code());
      }
      ++(status.ok() ? stream_ok_ : stream_failed_);
      if (!stream->Write(message)) break;
    }
    return grpc::Status::OK;
  }

  // The first request that was not what the loadgen must send, or "".
  std::string malformed() {
    absl::MutexLock lock(&mu_);
    return malformed_;
  }
  // The `timeout` of every stream message read, in order (-1: none).
  std::vector<int64_t> stream_timeouts_us() {
    absl::MutexLock lock(&mu_);
    return stream_timeouts_us_;
  }
  // Made with hold_streams, streams read nothing until this; their messages back up in the client.
  void ReleaseStreams() {
    if (!streams_released_.HasBeenNotified()) streams_released_.Notify();
  }

  std::atomic<int64_t> unary_ok_{0}, unary_failed_{0}, stream_ok_{0}, stream_failed_{0};

 private:
  grpc::Status Authenticate(const grpc::ServerContext& context) const {
    if (!require_token_) return grpc::Status::OK;
    const auto it = context.client_metadata().find("authorization");
    if (it == context.client_metadata().end() ||
        std::string(it->second.data(), it->second.size()) != std::string("Bearer ") + kToken) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad or no token");
    }
    return grpc::Status::OK;
  }

  grpc::Status Answer(const ModelInferRequest& request, ModelInferResponse* response) {
    std::string wrong;
    if (request.model_name() != kModel) wrong = "model_name " + request.model_name();
    if (request.inputs_size() != 1 || request.inputs(0).name() != "input" ||
        request.inputs(0).datatype() != "FP32" || request.inputs(0).shape_size() != 4 ||
        request.raw_input_contents_size() != 1 ||
        request.raw_input_contents(0).size() != 784 * sizeof(float)) {
      wrong = "input " + request.ShortDebugString().substr(0, 200);
    }
    if (request.outputs_size() != 1 ||
        request.outputs(0).parameters().count("classification") == 0) {
      wrong = "outputs";
    }
    const auto timeout = request.parameters().find("timeout");
    if (timeout == request.parameters().end()) wrong = "no timeout";
    if (!wrong.empty()) {
      absl::MutexLock lock(&mu_);
      if (malformed_.empty()) malformed_ = wrong;
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, wrong);
    }
    if (timeout->second.int64_param() < kRefuseBelowUs) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full");
    }
    response->set_model_name(kModel);
    response->set_id(request.id());
    auto* output = response->add_outputs();
    output->set_name("probabilities");
    output->set_datatype("BYTES");
    const std::string element = "0.912345:9:Ankle boot";
    std::string raw = {static_cast<char>(element.size()), 0, 0, 0};
    response->add_raw_output_contents(raw + element);
    (*response->mutable_parameters())["subnet_id"].set_string_param("5");
    (*response->mutable_parameters())["expected_accuracy"].set_string_param("0.9012");
    (*response->mutable_parameters())["deadline_met"].set_string_param("true");
    (*response->mutable_parameters())["queue_us"].set_string_param("120");
    (*response->mutable_parameters())["compute_us"].set_string_param("340");
    return grpc::Status::OK;
  }

  const bool require_token_;
  const bool hold_streams_;
  absl::Notification streams_released_;
  absl::Mutex mu_;
  std::string malformed_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> stream_timeouts_us_ ABSL_GUARDED_BY(mu_);
};

class LoadgenOipTest : public ::testing::Test {
 protected:
  void Serve(bool require_token, bool hold_streams = false) {
    fake_ = std::make_unique<FakeOip>(require_token, hold_streams);
    grpc::ServerBuilder builder;
    // Flow control at its initial windows: a stream that is not read holds few messages.
    builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(fake_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = "127.0.0.1:" + std::to_string(port);
  }

  void TearDown() override {
    if (fake_ != nullptr) fake_->ReleaseStreams();
    if (server_ != nullptr) server_->Shutdown();
  }

  LoadgenOptions Options() const {
    LoadgenOptions options;
    options.server = address_;
    options.api = LoadgenApi::kOip;
    // Half the requests ask 50 ms (refused by the fake), half 1 s: both long enough that no
    // stream message runs out of its SLO before it is written.
    options.slo_mix = {{50, 1}, {1000, 1}};
    options.trace = "poisson:rate=2000,duration=0.5";
    options.connections = 2;
    options.progress = false;
    return options;
  }

  // Runs a whole load against the fake; the report, and the model the loadgen learnt.
  LoadgenReport RunLoad(const LoadgenOptions& options, std::string* model) {
    absl::StatusOr<std::unique_ptr<Loadgen>> loadgen = Loadgen::Create(options);
    EXPECT_TRUE(loadgen.ok()) << loadgen.status();
    if (!loadgen.ok()) return {};
    const absl::Status connected = (*loadgen)->Connect();
    EXPECT_TRUE(connected.ok()) << connected;
    *model = (*loadgen)->server_model();
    LoadgenReport report = (*loadgen)->Run();
    EXPECT_EQ((*loadgen)->in_flight(), 0);
    EXPECT_EQ(report.sent, (*loadgen)->planned());
    return report;
  }

  // What every run against the fake must report.
  void ExpectReport(const LoadgenReport& report, const std::string& model) {
    EXPECT_EQ(model, kModel);  // learnt from RepositoryIndex: no --model_name given
    EXPECT_EQ(fake_->malformed(), "");
    EXPECT_GT(report.sent, 800);  // Poisson, mean 1000
    EXPECT_EQ(report.info.api, "oip");
    // The server's timings come in the answers' parameters: 120 us queued, 340 us computing.
    EXPECT_DOUBLE_EQ(report.server_queue_p50_ms, 0.12);
    EXPECT_DOUBLE_EQ(report.server_compute_p50_ms, 0.34);
    // Every request answered: OK for the 1 s SLOs, RESOURCE_EXHAUSTED (code 8) for the others.
    ASSERT_EQ(report.errors_by_code.size(), 1u);
    const int64_t refused = report.errors_by_code.at("RESOURCE_EXHAUSTED");
    EXPECT_EQ(report.ok + refused, report.sent);
    EXPECT_NEAR(static_cast<double>(report.ok) / static_cast<double>(report.sent), 0.5, 0.1);
    EXPECT_EQ(report.subnet_mix, (std::map<int, double>{{5, 1.0}}));
    EXPECT_NEAR(report.expected_accuracy, 0.9012, 1e-6);
    EXPECT_EQ(report.server_deadline_met, 1.0);
    // Class 9 always: the share of ankle boots (a tenth of the test set) among the images drawn.
    EXPECT_NEAR(report.measured_accuracy, 0.10, 0.05);
  }

  std::unique_ptr<FakeOip> fake_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

TEST_F(LoadgenOipTest, UnaryCallsAreAnsweredAndRefusalsCounted) {
  Serve(/*require_token=*/false);
  std::string model;
  const LoadgenReport report = RunLoad(Options(), &model);
  ExpectReport(report, model);
  EXPECT_EQ(report.info.mode, "unary");
  EXPECT_EQ(fake_->unary_ok_ + fake_->unary_failed_, report.sent);
  EXPECT_EQ(fake_->unary_ok_, report.ok);
  EXPECT_EQ(fake_->stream_ok_ + fake_->stream_failed_, 0);
}

TEST_F(LoadgenOipTest, StreamErrorsComeBackWithTheirCode) {
  Serve(/*require_token=*/false);
  LoadgenOptions options = Options();
  options.stream = true;
  std::string model;
  const LoadgenReport report = RunLoad(options, &model);
  ExpectReport(report, model);
  EXPECT_EQ(report.info.mode, "stream");
  EXPECT_EQ(fake_->stream_ok_ + fake_->stream_failed_, report.sent);
  EXPECT_EQ(fake_->stream_failed_, report.errors_by_code.at("RESOURCE_EXHAUSTED"));
  EXPECT_EQ(fake_->unary_ok_ + fake_->unary_failed_, 0);
}

TEST_F(LoadgenOipTest, StreamMessagesCarryTheRestOfTheirSloAndExpireInTheClient) {
  Serve(/*require_token=*/false, /*hold_streams=*/true);
  LoadgenOptions options = Options();
  options.stream = true;
  options.connections = 1;
  options.slo_mix = {{50, 1}};
  options.trace = "poisson:rate=20000,duration=0.02";  // ~400 messages (1.2 MB) in 20 ms
  absl::StatusOr<std::unique_ptr<Loadgen>> created = Loadgen::Create(options);
  ASSERT_TRUE(created.ok()) << created.status();
  Loadgen& loadgen = **created;
  ASSERT_TRUE(loadgen.Connect().ok());
  const int64_t planned = loadgen.planned();
  ASSERT_GT(planned, 300);
  LoadgenReport report;
  std::thread run([&] { report = loadgen.Run(); });
  // The fake reads nothing. Once every message is sent, each one still queued in the client has
  // waited past its 50 ms SLO 60 ms later (this wait is the point of the test: an SLO running
  // out).
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (loadgen.sent() < planned && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool all_sent = loadgen.sent() == planned;
  if (all_sent) std::this_thread::sleep_for(std::chrono::milliseconds(60));
  fake_->ReleaseStreams();
  run.join();
  ASSERT_TRUE(all_sent) << "sent " << loadgen.sent() << " of " << planned;

  // Every message got one answer: the few that reached the server before it stopped reading (the
  // transport's windows) from the fake (RESOURCE_EXHAUSTED: 50 ms is below its threshold); the
  // rest, never written, DEADLINE_EXCEEDED from the client.
  const std::vector<int64_t> timeouts = fake_->stream_timeouts_us();
  EXPECT_EQ(report.sent, planned);
  EXPECT_EQ(report.ok, 0);
  EXPECT_EQ(report.expired_in_client, planned - static_cast<int64_t>(timeouts.size()));
  EXPECT_GT(report.expired_in_client, planned / 2);
  EXPECT_EQ(report.errors_by_code,
            (std::map<std::string, int64_t>{
                {"DEADLINE_EXCEEDED", report.expired_in_client},
                {"RESOURCE_EXHAUSTED", static_cast<int64_t>(timeouts.size())}}));
  // What reached the server carried what was left of its SLO when it was written: never more
  // than the SLO, and less for the messages that waited for the one before them.
  ASSERT_FALSE(timeouts.empty());
  for (const int64_t us : timeouts) {
    EXPECT_GE(us, 1);
    EXPECT_LE(us, 50'000);
  }
  EXPECT_LT(*std::min_element(timeouts.begin(), timeouts.end()), 50'000);
}

TEST_F(LoadgenOipTest, TheTokenGoesOnEveryCallAndStream) {
  Serve(/*require_token=*/true);
  LoadgenOptions options = Options();
  // Without the token the start-up check is refused, naming the code.
  absl::StatusOr<std::unique_ptr<Loadgen>> refused = Loadgen::Create(options);
  ASSERT_TRUE(refused.ok()) << refused.status();
  const absl::Status status = (*refused)->Connect();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << status;
  EXPECT_THAT(status.message(), HasSubstr("refused the start-up check"));

  const std::string token_file =
      absl::StrCat(::testing::TempDir(), "/loadgen_rpc_test_", getpid(), ".token");
  std::ofstream(token_file) << "# the fake's token\n\n" << kToken << "\r\n";
  ChannelOptions channel;
  channel.auth_token_path = token_file;
  absl::StatusOr<ClientSecurity> security = ClientSecurity::Load(channel);
  ASSERT_TRUE(security.ok()) << security.status();
  options.security = *security;
  for (const bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "stream" : "unary");
    options.stream = stream;
    std::string model;
    ExpectReport(RunLoad(options, &model), model);
  }
}

TEST_F(LoadgenOipTest, AModelTheServerLacksIsNotFound) {
  Serve(/*require_token=*/false);
  LoadgenOptions options = Options();
  options.model_name = "other-model";
  absl::StatusOr<std::unique_ptr<Loadgen>> loadgen = Loadgen::Create(options);
  ASSERT_TRUE(loadgen.ok()) << loadgen.status();
  const absl::Status status = (*loadgen)->Connect();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), HasSubstr("ModelMetadata of 'other-model'"));

  options.model_name = kModel;  // named, it is checked with ModelMetadata and used
  loadgen = Loadgen::Create(options);
  ASSERT_TRUE(loadgen.ok()) << loadgen.status();
  ASSERT_TRUE((*loadgen)->Connect().ok());
  EXPECT_EQ((*loadgen)->server_model(), kModel);
}

}  // namespace
}  // namespace ternserve
