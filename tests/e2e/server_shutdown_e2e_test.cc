// End-to-end shutdown and flag tests: SIGTERM with requests in flight answers every accepted
// request and exits 0; bad flags exit 2 before serving.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/e2e/server_fixture.h"

namespace ternserve {
namespace {

using ::ternserve::testing::RunToCompletion;
using ::testing::HasSubstr;

class ServerShutdownE2eTest : public ServerE2eTest {
 protected:
  ServerShutdownE2eTest() { max_batch_ = 1; }
};

TEST_F(ServerShutdownE2eTest, SigtermAnswersEveryStreamedRequestInFlightAndExitsZero) {
  constexpr int kStreams = 4;
  constexpr int kPerStream = 50;
  std::atomic<bool> signalled{false};
  std::atomic<int> streams_answering{0};
  std::atomic<int> answered_after_signal{0};
  std::vector<int> answered_ok(kStreams, 0);
  std::vector<int> answered(kStreams, 0);
  std::vector<grpc::Status> finished(kStreams);
  auto stub =
      v1::Classifier::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  std::vector<std::thread> streams;
  for (int s = 0; s < kStreams; ++s) {
    streams.emplace_back([&, s] {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
      auto stream = stub->ClassifyStream(&context);
      for (int i = 0; i < kPerStream; ++i) {
        // All 200 are queued at once and run one at a time: under ASan on a slow machine the
        // last waited past the usual 5 s SLO and was dropped. The SLO is not what this tests.
        v1::ClassifyRequest request = ImageRequest((s * kPerStream + i) % kE2eImages);
        request.set_latency_slo_ms(60000);
        stream->Write(request);
      }
      stream->WritesDone();
      v1::ClassifyResponse response;
      while (stream->Read(&response)) {
        if (answered[s]++ == 0) ++streams_answering;
        if (response.status().code() == 0) ++answered_ok[s];
        if (signalled) ++answered_after_signal;
      }
      finished[s] = stream->Finish();
    });
  }
  // Every stream is being answered, and the server has read every message (a request not yet
  // read at SIGTERM is refused rather than answered, so the test waits for the server to say so).
  while (streams_answering < kStreams) std::this_thread::yield();
  const absl::Status all_read =
      WaitForMetric("ternserve_requests_received_total", kStreams * kPerStream, absl::Seconds(60));
  ASSERT_TRUE(all_read.ok()) << all_read;
  signalled = true;
  server_.Signal(SIGTERM);
  for (auto& t : streams) t.join();
  absl::StatusOr<int> code = server_.Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  for (int s = 0; s < kStreams; ++s) {
    EXPECT_TRUE(finished[s].ok()) << finished[s].error_message();
    EXPECT_EQ(answered[s], kPerStream) << "stream " << s;
    EXPECT_EQ(answered_ok[s], kPerStream) << "stream " << s;
  }
  EXPECT_GT(answered_after_signal.load(), 0) << "nothing was in flight at SIGTERM; test too weak";
  // Gone now: new calls fail.
  EXPECT_FALSE(client_->Classify(ImageRequest(0), absl::Seconds(2)).ok());
}

TEST_F(ServerShutdownE2eTest, SigtermAnswersEveryUnaryCallInFlight) {
  // Each caller keeps one call in flight until SIGTERM, so at the signal about kCallers calls are
  // queued (max_batch 1) however fast the engine is. Then it stops sending.
  constexpr int kCallers = 32;
  std::atomic<bool> signalled{false};
  std::atomic<int> answered_before_signal{0};
  std::atomic<int> answered_after_signal{0};  // sent before SIGTERM, answered OK after it
  std::vector<std::vector<absl::Status>> results(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      for (int n = 0; !signalled; ++n) {
        const absl::Status status =
            client_->Classify(ImageRequest((i + n) % kE2eImages), absl::Seconds(120)).status();
        results[i].push_back(status);
        if (!status.ok()) return;
        if (signalled) {
          ++answered_after_signal;
        } else {
          ++answered_before_signal;
        }
      }
    });
  }
  while (answered_before_signal < 2 * kCallers) std::this_thread::yield();
  signalled = true;
  server_.Signal(SIGTERM);
  for (auto& t : callers) t.join();
  absl::StatusOr<int> code = server_.Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  // Every call was sent before SIGTERM: it was either accepted and answered OK, or refused at once
  // with UNAVAILABLE because the server was draining. An accepted call that was dropped would show
  // up as CANCELLED or a timeout instead.
  for (const auto& statuses : results) {
    for (const absl::Status& s : statuses) {
      EXPECT_TRUE(s.ok() || s.code() == absl::StatusCode::kUnavailable) << s;
    }
  }
  EXPECT_GT(answered_after_signal.load(), 0) << "nothing was in flight at SIGTERM; test too weak";
}

// Flag errors exit 2 with a precise message, before serving.
// A stream that keeps kWindow requests in flight, steadily, until it reads a refusal (the server
// is draining), then half-closes and reads every answer left. Counts what it wrote and each
// answer's code.
template <typename Request, typename Response>
class SteadyStream {
 public:
  static constexpr int kWindow = 8;
  struct Result {
    int written = 0;
    std::map<int, int> codes;  // answer code -> count
    int ok_after_signal = 0;   // answered OK after the test signalled the server
    grpc::Status finished;
  };

  // make(i): the i-th request; code_of(response): its status code.
  static Result Run(grpc::ClientReaderWriter<Request, Response>* stream,
                    const std::function<Request(int)>& make,
                    const std::function<int(const Response&)>& code_of,
                    const std::atomic<bool>& signalled) {
    Result result;
    absl::Mutex mu;
    int answered = 0;
    bool refused = false;
    std::thread writer([&] {
      for (int i = 0;; ++i) {
        {
          absl::MutexLock lock(&mu);
          auto room = [&]() { return refused || result.written - answered < kWindow; };
          mu.Await(absl::Condition(&room));
          if (refused) break;
        }
        const Request request = make(i);
        if (!stream->Write(request)) break;
        absl::MutexLock lock(&mu);
        ++result.written;
      }
      stream->WritesDone();
    });
    Response response;
    while (stream->Read(&response)) {
      const int code = code_of(response);
      absl::MutexLock lock(&mu);
      ++answered;
      ++result.codes[code];
      if (code == static_cast<int>(grpc::StatusCode::UNAVAILABLE)) refused = true;
      if (code == 0 && signalled) ++result.ok_after_signal;
    }
    {
      absl::MutexLock lock(&mu);
      refused = true;  // the stream broke: let the writer go
    }
    writer.join();
    result.finished = stream->Finish();
    return result;
  }
};

TEST_F(ServerShutdownE2eTest, SigtermMidStreamAnswersEveryAcceptedRequestOnBothApis) {
  auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  auto classifier = v1::Classifier::NewStub(channel);
  auto oip = inference::GRPCInferenceService::NewStub(channel);
  const std::string model = GetReference().bundle->metadata().model_name;
  std::atomic<bool> signalled{false};
  using V1Stream = SteadyStream<v1::ClassifyRequest, v1::ClassifyResponse>;
  using OipStream = SteadyStream<inference::ModelInferRequest, inference::ModelStreamInferResponse>;
  constexpr int kPerApi = 2;
  std::vector<V1Stream::Result> v1_results(kPerApi);
  std::vector<OipStream::Result> oip_results(kPerApi);
  std::vector<std::thread> streams;
  for (int s = 0; s < kPerApi; ++s) {
    streams.emplace_back([&, s] {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
      auto stream = classifier->ClassifyStream(&context);
      v1_results[s] = V1Stream::Run(
          stream.get(), [](int i) { return ImageRequest(i % kE2eImages); },
          [](const v1::ClassifyResponse& r) { return r.status().code(); }, signalled);
    });
    streams.emplace_back([&, s] {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
      auto stream = oip->ModelStreamInfer(&context);
      oip_results[s] = OipStream::Run(
          stream.get(), [&](int i) { return OipImageRequest(model, i, 1 + i % 3); },
          [](const inference::ModelStreamInferResponse& r) {
            return r.error_message().empty()
                       ? 0
                       : static_cast<int>(r.infer_response().parameters().at("code").int64_param());
          },
          signalled);
    });
  }
  // Mid-stream: every stream has had answers.
  ASSERT_TRUE(WaitForMetric(R"(ternserve_requests_total{code="OK"})", 200, absl::Seconds(60)).ok());
  signalled = true;
  const absl::Time signal_time = absl::Now();
  server_.Signal(SIGTERM);
  for (auto& t : streams) t.join();
  absl::StatusOr<int> code = server_.Wait(absl::Seconds(60));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  EXPECT_LT(absl::Now() - signal_time, absl::Seconds(30)) << "exceeded the default --drain_timeout";
  int ok_after_signal = 0;
  auto check = [&](const auto& result, const std::string& name) {
    SCOPED_TRACE(name);
    EXPECT_TRUE(result.finished.ok()) << result.finished.error_message();
    int answered = 0;
    for (const auto& [answer_code, count] : result.codes) {
      answered += count;
      // Accepted and answered, or refused at once because the server was draining.
      EXPECT_THAT(answer_code, ::testing::AnyOf(0, static_cast<int>(grpc::StatusCode::UNAVAILABLE)))
          << count << " answer(s)";
    }
    EXPECT_EQ(answered, result.written) << "a request went unanswered";
    EXPECT_GT(result.codes.count(static_cast<int>(grpc::StatusCode::UNAVAILABLE)), 0u)
        << "the stream never saw the drain";
    ok_after_signal += result.ok_after_signal;
  };
  for (int s = 0; s < kPerApi; ++s) {
    check(v1_results[s], absl::StrCat("ClassifyStream ", s));
    check(oip_results[s], absl::StrCat("ModelStreamInfer ", s));
  }
  EXPECT_GT(ok_after_signal, 0) << "nothing was in flight at SIGTERM; test too weak";
}

TEST_F(ServerShutdownE2eTest, ASecondSignalExitsAtOnceWithoutDraining) {
  // An open stream that never half-closes keeps the drain waiting (up to --drain_timeout=30s).
  auto classifier =
      v1::Classifier::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  auto stream = classifier->ClassifyStream(&context);
  ASSERT_TRUE(stream->Write(ImageRequest(1)));
  v1::ClassifyResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.status().code(), 0);
  server_.Signal(SIGTERM);
  // Draining: new RPCs on both APIs are refused UNAVAILABLE (by the server, or by gRPC once it
  // stops taking calls); the server still waits for the open stream.
  absl::Status refused;
  for (const absl::Time give_up = absl::Now() + absl::Seconds(30);
       refused.code() != absl::StatusCode::kUnavailable && absl::Now() < give_up;) {
    refused = client_->Classify(ImageRequest(2), absl::Seconds(5)).status();
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  auto oip = inference::GRPCInferenceService::NewStub(
      grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext live_context;
  live_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  inference::ServerLiveResponse live;
  // By now gRPC itself may have stopped taking calls (the queue drained at once, only the stream
  // is left): it refuses a new one CANCELLED or UNAVAILABLE, never serves it.
  EXPECT_THAT(oip->ServerLive(&live_context, inference::ServerLiveRequest(), &live).error_code(),
              ::testing::AnyOf(grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::CANCELLED));
  ASSERT_FALSE(server_.Poll()) << "the server exited with a stream still open";
  const absl::Time second = absl::Now();
  server_.Signal(SIGTERM);
  absl::StatusOr<int> code = server_.Wait(absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGTERM);
  EXPECT_LT(absl::Now() - second, absl::Seconds(5));
  EXPECT_FALSE(stream->Finish().ok());
}

// Requests wait in the queue until 1024 are there (an hour's queue delay), so at SIGTERM they are
// all still queued.
class ServerDrainTimeoutE2eTest : public ServerE2eTest {
 protected:
  void StartHolding(const std::string& drain_timeout) {
    max_batch_ = 1024;
    flags_.push_back("--max_queue_delay_ms=3600000");
    flags_.push_back("--drain_timeout=" + drain_timeout);
    ServerE2eTest::SetUp();
  }
  void SetUp() override {}  // each test starts the server with its own --drain_timeout
};

TEST_F(ServerDrainTimeoutE2eTest, ZeroDrainTimeoutAnswersEveryQueuedRequestUnavailableUnrun) {
  StartHolding("0s");
  auto stub =
      v1::Classifier::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  AsyncClassifyCalls calls(stub.get(), 200, absl::Seconds(120));
  ASSERT_TRUE(WaitForMetric("ternserve_queue_depth", 200, absl::Seconds(30)).ok());
  server_.Signal(SIGTERM);
  const std::map<grpc::StatusCode, int> codes = calls.Wait();
  EXPECT_EQ(codes.at(grpc::StatusCode::UNAVAILABLE), 200);
  for (const grpc::Status& status : calls.statuses()) {
    EXPECT_THAT(status.error_message(), HasSubstr("shut down before this request ran"));
  }
  absl::StatusOr<int> code = server_.Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

TEST_F(ServerDrainTimeoutE2eTest, WithinTheDrainTimeoutQueuedRequestsStillRun) {
  StartHolding("30s");
  auto stub =
      v1::Classifier::NewStub(grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
  AsyncClassifyCalls calls(stub.get(), 200, absl::Seconds(120));
  ASSERT_TRUE(WaitForMetric("ternserve_queue_depth", 200, absl::Seconds(30)).ok());
  server_.Signal(SIGTERM);  // the drain stops the policy's wait: the queue runs at once
  const std::map<grpc::StatusCode, int> codes = calls.Wait();
  EXPECT_EQ(codes.at(grpc::StatusCode::OK), 200);
  absl::StatusOr<int> code = server_.Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

// --max_connection_age: the server closes a connection (GOAWAY) once it is that old; a client's
// channel leaves READY, and its next call goes over a new connection.
class ServerConnectionAgeE2eTest : public ServerE2eTest {
 protected:
  void SetUp() override {
    flags_.push_back("--max_connection_age=1s");
    ServerE2eTest::SetUp();
  }
};

TEST_F(ServerConnectionAgeE2eTest, ConnectionsAreClosedOnceTheyAreThatOld) {
  auto channel = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
  auto stub = v1::Classifier::NewStub(channel);
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::ClassifyResponse response;
    ASSERT_TRUE(stub->Classify(&context, ImageRequest(round), &response).ok());
    ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
    // 1 s ± 10% jitter: well within 20 s, unless the server never closes it.
    const absl::Time until = absl::Now() + absl::Seconds(20);
    while (channel->GetState(false) == GRPC_CHANNEL_READY && absl::Now() < until) {
      channel->WaitForStateChange(GRPC_CHANNEL_READY, absl::ToChronoTime(until));
    }
    EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY)
        << "the connection outlived --max_connection_age=1s by 19 s";
  }
}

TEST(ServerFlagsE2eTest, BadFlagsExit2) {
  const std::string out = ::testing::TempDir() + "/flags.out";
  const std::vector<std::vector<std::string>> cases = {
      {"--workers=0"},
      {"--port=70000"},
      {"--engine=onnx"},
      {"--default_slo_ms=-5"},
      {"--max_batch=abc"},
      {"--no_such_flag=1"},
      {"--subnet=999"},
      {"positional"},
      {"--isa=sse9"},
      {"--engine=torch", "--isa=avx2"},
      {"--engine=torch"},               // this binary has no LibTorch: ternserve-torch has
      {"--engine=cuda", "--isa=avx2"},  // --isa is ternary's, with or without CUDA
      {"--policy=nope"},
      {"--policy=slackfit:3"},
      {"--late=maybe"},
      {"--profile_budget_s=0"},
      {"--metrics_port=-2"},
      {"--metrics_port=70000"},
      {"--metrics_port=x"},
      {"--port=9100", "--metrics_port=9100"},
      {"--worker_cpus=x"},
      {"--worker_cpus=4096"},
      {"--worker_cpus=0,0"},
      {"--worker_cpus=0", "--workers=2"},
      {"--worker_cpus=0", "--threads=2"},
      {"--slo_reserve_ms=-1"},
      {"--slo_reserve_ms=100"},  // all of the default SLO
      {"--slo_reserve_ms=nan"},
      {"--worker_spin_us=-1"},
      {"--worker_spin_us=20000000"},
      {"--max_connection_age=500ms"},
      {"--max_connection_age=-1s"},
      {"--max_connection_age=200h"},
  };
  for (const auto& extra : cases) {
    SCOPED_TRACE(extra[0]);
    std::vector<std::string> argv = {TERNSERVE_SERVER_BIN,
                                     absl::StrCat("--bundle=", TERNSERVE_E2E_BUNDLE), "--port=0",
                                     "--metrics_port=0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto result = RunToCompletion(argv, out);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->first, 2);
  }
  auto missing = RunToCompletion(
      {TERNSERVE_SERVER_BIN, "--bundle=/nonexistent.tsn", "--port=0", "--metrics_port=0"}, out);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->first, 1);
  // A profile of another bundle (the shipped one's sub-nets differ) is refused at start-up.
  const std::string other = ::testing::TempDir() + "/other.profile.json";
  {
    std::ifstream in(TERNSERVE_E2E_PROFILE);
    std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = json.find("\"name\": \"", json.find("\"subnets\""));
    ASSERT_NE(at, std::string::npos);
    json.insert(at + 9, "x");
    std::ofstream(other) << json;
  }
  auto mismatched =
      RunToCompletion({TERNSERVE_SERVER_BIN, absl::StrCat("--bundle=", TERNSERVE_E2E_BUNDLE),
                       "--port=0", "--metrics_port=0", "--profile=" + other},
                      out);
  ASSERT_TRUE(mismatched.ok());
  EXPECT_EQ(mismatched->first, 1);
}

// ternserve refuses --engine=torch, naming the binary that serves it.
TEST(ServerFlagsE2eTest, TernserveNamesTheBinaryThatServesTorch) {
  const std::string out = ::testing::TempDir() + "/torch.out";
  // Through sh, so that stderr (where the message goes) is captured with stdout.
  auto result = RunToCompletion({"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", TERNSERVE_SERVER_BIN,
                                 absl::StrCat("--bundle=", TERNSERVE_E2E_BUNDLE), "--port=0",
                                 "--metrics_port=0", "--engine=torch"},
                                out);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->first, 2);
  EXPECT_THAT(result->second,
              ::testing::HasSubstr("--engine=torch: ternserve is built without LibTorch; "
                                   "ternserve-torch (the same server and flags) serves"));
}

// Without CUDA (the default build), ternserve refuses --engine=cuda, saying how to build it.
#if !TERNSERVE_HAVE_CUDA
TEST(ServerFlagsE2eTest, TernserveWithoutCudaRefusesCudaSayingHowToBuildIt) {
  const std::string out = ::testing::TempDir() + "/cuda.out";
  auto result = RunToCompletion({"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", TERNSERVE_SERVER_BIN,
                                 absl::StrCat("--bundle=", TERNSERVE_E2E_BUNDLE), "--port=0",
                                 "--metrics_port=0", "--engine=cuda"},
                                out);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->first, 2);
  EXPECT_THAT(result->second,
              ::testing::HasSubstr("ternserve: --engine=cuda: this binary was built without CUDA "
                                   "(rebuild with make build-cuda / -DTERNSERVE_CUDA=ON)"));
}
#endif

// The LibTorch engine serves in ternserve-torch (--engine=torch), and the ternary engine on every
// kernel variant this CPU has.
TEST(ServerFlagsE2eTest, EveryEngineAndIsaStartsAndAnswers) {
  const std::string out = ::testing::TempDir() + "/engines.out";
  const std::string profile = std::string("--profile=") + TERNSERVE_E2E_PROFILE;
  // The last case has no --profile: the server profiles itself at start-up (short budget).
  std::vector<std::vector<std::string>> cases = {
      {"--engine=torch", profile}, {"--isa=scalar", profile}, {"--profile_budget_s=2"}};
  for (const auto& extra : cases) {
    SCOPED_TRACE(extra[0]);
    const bool torch = extra[0] == "--engine=torch";
    // ternserve-torch serves no metrics (see README).
    std::vector<std::string> argv = {torch ? TERNSERVE_TORCH_SERVER_BIN : TERNSERVE_SERVER_BIN,
                                     absl::StrCat("--bundle=", TERNSERVE_E2E_BUNDLE), "--port=0",
                                     torch ? "--metrics_port=-1" : "--metrics_port=0",
                                     "--port_file=" + out + ".port"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // Start, then stop with SIGTERM once it listens: exit 0 means it started and drained cleanly.
    ::ternserve::testing::Subprocess server;
    ASSERT_TRUE(server.Start(argv, out).ok());
    std::string port;
    for (int i = 0; i < 2400 && port.empty(); ++i) {
      std::ifstream f(out + ".port");
      std::getline(f, port);
      if (port.empty()) absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_FALSE(port.empty()) << "ternserve did not start";
    auto client = ClassifierClient::Create("127.0.0.1:" + port);
    ASSERT_TRUE(client.ok()) << client.status();
    absl::StatusOr<std::string> health = (*client)->CheckHealth(absl::Seconds(10));
    ASSERT_TRUE(health.ok()) << health.status();
    EXPECT_EQ(*health, "SERVING");
    std::remove((out + ".port").c_str());
    server.Signal(SIGTERM);
    absl::StatusOr<int> code = server.Wait(absl::Seconds(60));
    ASSERT_TRUE(code.ok()) << code.status();
    EXPECT_EQ(*code, 0);
  }
}

}  // namespace
}  // namespace ternserve
