// Tests for server/classifier_service.cc over a real in-process gRPC channel, with the real
// EngineBatchProcessor over PixelEngines (tests/testing/pixel_engine.h) instead of a model, on a
// fake clock: unary and streaming answers with exact timings, per-message stream errors,
// queue-full, the SLO reserve, GetModelInfo.
#include "server/classifier_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/engine_batch_processor.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/pixel_engine.h"
#include "util/version.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

BundleMetadata TestMetadata() {
  BundleMetadata metadata;
  metadata.model_name = "test-supernet";
  metadata.quantizer = "twn";
  for (int c = 0; c < 10; ++c) metadata.labels.push_back("class" + std::to_string(c));
  for (int id : {0, 1}) {
    SubnetMeta subnet;
    subnet.id = id;
    subnet.config = {{id + 1, 1, 1}, {8, 16, 32}};
    subnet.name = SubnetName(subnet.config);
    subnet.macs = 1000 * (id + 1);
    subnet.params = 100 * (id + 1);
    subnet.val_accuracy = 0.8 + 0.01 * id;
    subnet.test_accuracy = 0.7 + 0.01 * id;
    subnet.sparsity = 0.4;
    metadata.subnets.push_back(subnet);
  }
  return metadata;
}

v1::ClassifyRequest RequestForClass(int c, const std::string& id) {
  v1::ClassifyRequest request;
  for (int i = 0; i < 784; ++i) request.mutable_pixels()->add_values(i == c ? 1.0f : 0.0f);
  request.set_request_id(id);
  request.set_top_k(3);
  request.set_latency_slo_ms(10000);
  return request;
}

class ClassifierServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(/*max_queue=*/64); }
  void TearDown() override { Stop(); }

  void Start(int max_queue, double slo_reserve_ms = 0) {
    std::vector<std::unique_ptr<Engine>> engines;
    for (int w = 0; w < 2; ++w) engines.push_back(control_.MakeEngine());
    processor_ = std::make_unique<EngineBatchProcessor>(std::move(engines), 10);
    // Every batch takes exactly 3 ms on the clock, which starts at the wall clock's time (gRPC
    // deadlines are wall-clock times).
    clock_.Set(absl::Now());
    control_.AdvanceOnRun(&clock_, absl::Milliseconds(3));
    DispatcherOptions dispatcher_options;
    dispatcher_options.workers = 2;
    dispatcher_options.max_batch = 4;
    dispatcher_options.max_queue = max_queue;
    dispatcher_options.subnet_id = 1;
    dispatcher_ = std::make_unique<Dispatcher>(dispatcher_options, processor_.get(), &clock_);
    ClassifierServiceOptions options;
    options.engine = "fake";
    // metadata_ itself, borrowed.
    model_ = std::make_unique<CurrentModel>(
        ServedModel{std::shared_ptr<const BundleMetadata>(std::shared_ptr<void>(), &metadata_),
                    nullptr, "fixed:" + metadata_.subnets[1].name});
    options.limits.slo_reserve_ms = slo_reserve_ms;
    submitter_ = std::make_unique<RequestSubmitter>(dispatcher_.get(), &clock_, nullptr, nullptr);
    service_ = std::make_unique<ClassifierService>(options, model_.get(), submitter_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::Classifier::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                        grpc::InsecureChannelCredentials()));
  }
  void Stop() {
    if (server_ == nullptr) return;
    control_.Hold(false);
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    dispatcher_->Drain();
    server_->Wait();
    server_.reset();
    service_.reset();
    submitter_.reset();
    dispatcher_.reset();
  }

  grpc::Status Classify(const v1::ClassifyRequest& request, v1::ClassifyResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub_->Classify(&context, request, response);
  }

  BundleMetadata metadata_ = TestMetadata();
  std::unique_ptr<CurrentModel> model_;
  FakeClock clock_;
  PixelEngineControl control_;
  std::unique_ptr<EngineBatchProcessor> processor_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<RequestSubmitter> submitter_;
  std::unique_ptr<ClassifierService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Classifier::Stub> stub_;
};

TEST_F(ClassifierServiceTest, UnaryClassifyAnswersWithTopKAndTimings) {
  v1::ClassifyResponse response;
  grpc::Status status = Classify(RequestForClass(7, "req-7"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.request_id(), "req-7");
  ASSERT_EQ(response.top_k_size(), 3);
  EXPECT_EQ(response.top_k(0).class_id(), 7);
  EXPECT_EQ(response.top_k(0).label(), "class7");
  // softmax of one logit 10 and nine logits 0
  EXPECT_NEAR(response.top_k(0).probability(), std::exp(10.0) / (std::exp(10.0) + 9), 1e-6);
  EXPECT_EQ(response.top_k(1).class_id(), 0);  // ties break by class id
  EXPECT_EQ(response.subnet().id(), 1);
  EXPECT_EQ(response.subnet().name(), metadata_.subnets[1].name);
  EXPECT_DOUBLE_EQ(response.subnet().expected_accuracy(), 0.71);
  EXPECT_EQ(response.batch_size(), 1);
  // An idle worker takes it at once, and the batch takes the engine's 3 ms on the clock.
  EXPECT_EQ(response.queue_us(), 0);
  EXPECT_EQ(response.compute_us(), 3000);
  EXPECT_TRUE(response.deadline_met());
  EXPECT_FALSE(response.has_status());  // unary uses the RPC status
}

TEST_F(ClassifierServiceTest, UnaryErrorsUseTheRpcStatus) {
  v1::ClassifyRequest request = RequestForClass(1, "bad");
  request.set_top_k(11);
  v1::ClassifyResponse response;
  grpc::Status status = Classify(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("top_k is 11"));

  control_.Fail(absl::InternalError("engine exploded"));
  status = Classify(RequestForClass(1, "x"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message(), "engine exploded");
  control_.Fail(absl::OkStatus());
  EXPECT_TRUE(Classify(RequestForClass(1, "x"), &response).ok());
}

TEST_F(ClassifierServiceTest, FullQueueIsResourceExhausted) {
  Stop();
  Start(/*max_queue=*/1);
  control_.Hold(true);
  // Two workers each hold one request, one waits in the queue; the fourth is refused.
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&, i] {
      v1::ClassifyResponse response;
      if (Classify(RequestForClass(i, "held"), &response).ok()) ++ok;
    });
    if (i < 2) control_.WaitEntered(i + 1);
  }
  while (dispatcher_->queue_depth() < 1) std::this_thread::yield();
  v1::ClassifyResponse response;
  grpc::Status status = Classify(RequestForClass(3, "refused"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  control_.Hold(false);
  for (auto& t : callers) t.join();
  EXPECT_EQ(ok.load(), 3);
}

TEST_F(ClassifierServiceTest, TheSloReserveIsTakenFromEveryRequestsDeadline) {
  Stop();
  Start(/*max_queue=*/64, /*slo_reserve_ms=*/50);
  // 10 s less 50 ms is plenty.
  v1::ClassifyResponse response;
  grpc::Status status = Classify(RequestForClass(2, "roomy"), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.deadline_met());
  // An SLO of 40 ms is all reserve: the deadline has passed on arrival, so the request is answered
  // as late (--late=drop) even though the engine is idle.
  v1::ClassifyRequest tight = RequestForClass(2, "tight");
  tight.set_latency_slo_ms(40);
  status = Classify(tight, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
}

TEST_F(ClassifierServiceTest, StreamAnswersEachMessageAndSurvivesABadOne) {
  grpc::ClientContext context;
  auto stream = stub_->ClassifyStream(&context);
  constexpr int kMessages = 20;
  for (int i = 0; i < kMessages; ++i) {
    v1::ClassifyRequest request = RequestForClass(i % 10, "s" + std::to_string(i));
    if (i == 10) request.mutable_pixels()->set_values(3, 1.5f);
    ASSERT_TRUE(stream->Write(request));
  }
  ASSERT_TRUE(stream->WritesDone());
  std::map<std::string, v1::ClassifyResponse> responses;
  v1::ClassifyResponse response;
  while (stream->Read(&response)) responses[response.request_id()] = response;
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(responses.size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) {
    const v1::ClassifyResponse& r = responses["s" + std::to_string(i)];
    if (i == 10) {
      EXPECT_EQ(r.status().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      EXPECT_THAT(r.status().message(), HasSubstr("pixel 3 is 1.5, outside [0, 1]"));
      EXPECT_EQ(r.top_k_size(), 0);
    } else {
      EXPECT_EQ(r.status().code(), 0) << r.status().message();
      ASSERT_EQ(r.top_k_size(), 3);
      EXPECT_EQ(r.top_k(0).class_id(), i % 10);
    }
  }
}

TEST_F(ClassifierServiceTest, StreamWithManyInFlightRequestsAnswersAll) {
  grpc::ClientContext context;
  auto stream = stub_->ClassifyStream(&context);
  control_.Hold(true);
  constexpr int kMessages = 40;
  std::thread writer([&] {
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(stream->Write(RequestForClass(i % 10, std::to_string(i))));
    }
    stream->WritesDone();
  });
  // Release the engines only once every message is in flight: queued, or in a held batch.
  while (dispatcher_->queue_depth() + control_.images_entered() < kMessages) {
    std::this_thread::yield();
  }
  control_.Hold(false);
  int answered = 0;
  v1::ClassifyResponse response;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.status().code(), 0);
    EXPECT_EQ(response.top_k(0).class_id(), std::stoi(response.request_id()) % 10);
    ++answered;
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answered, kMessages);
}

TEST_F(ClassifierServiceTest, GetModelInfoReportsTheBundle) {
  grpc::ClientContext context;
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&context, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.model_name(), "test-supernet");
  ASSERT_EQ(info.labels_size(), 10);
  EXPECT_EQ(info.labels(9), "class9");
  ASSERT_EQ(info.subnets_size(), 2);
  EXPECT_EQ(info.subnets(1).name(), metadata_.subnets[1].name);
  EXPECT_THAT(info.subnets(1).depths(), ::testing::ElementsAre(2, 1, 1));
  EXPECT_THAT(info.subnets(1).widths(), ::testing::ElementsAre(8, 16, 32));
  EXPECT_EQ(info.subnets(1).macs(), 2000);
  EXPECT_DOUBLE_EQ(info.subnets(1).test_accuracy(), 0.71);
  EXPECT_EQ(info.policy(), "fixed:" + metadata_.subnets[1].name);
  EXPECT_EQ(info.engine(), "fake");
  EXPECT_EQ(info.quantizer(), "twn");
  EXPECT_EQ(info.version(), kTernserveVersion);
  EXPECT_EQ(info.latency_table_size(), 0);
}

}  // namespace
}  // namespace ternserve
