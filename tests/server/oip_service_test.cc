// Tests for server/oip_service.cc over a real in-process gRPC channel, with the real dispatcher and
// batch processor over PixelEngines (an image's class is its brightest pixel among 0..9): the
// metadata RPCs as Triton's clients read them, ModelInfer of several images, a queue that fills
// midway through a request, the stream's per-message errors, statistics and token authentication.
#include "server/oip_service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "models/arch.h"
#include "scheduler/clock.h"
#include "scheduler/dispatcher.h"
#include "server/engine_batch_processor.h"
#include "tests/testing/pixel_engine.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

BundleMetadata TestMetadata() {
  BundleMetadata metadata;
  metadata.model_name = "pixels";
  for (int c = 0; c < 10; ++c) metadata.labels.push_back("class" + std::to_string(c));
  SubnetMeta subnet;
  subnet.id = 1;
  subnet.test_accuracy = 0.75;
  metadata.subnets.push_back(subnet);
  return metadata;
}

// A request of one FP32 image per class in `classes`: image i's brightest pixel is classes[i].
inference::ModelInferRequest RequestForClasses(const std::vector<int>& classes, int top_k) {
  inference::ModelInferRequest request;
  request.set_model_name("pixels");
  request.set_id("batch");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  input->add_shape(static_cast<int64_t>(classes.size()));
  input->add_shape(kImagePixels);
  std::vector<float> pixels(classes.size() * kImagePixels, 0.0f);
  for (size_t i = 0; i < classes.size(); ++i) {
    pixels[i * kImagePixels + static_cast<size_t>(classes[i])] = 1.0f;
  }
  request.add_raw_input_contents(
      std::string(reinterpret_cast<const char*>(pixels.data()), pixels.size() * sizeof(float)));
  (*request.mutable_parameters())["timeout"].set_int64_param(10'000'000);
  auto* output = request.add_outputs();
  output->set_name("probabilities");
  (*output->mutable_parameters())["classification"].set_int64_param(top_k);
  return request;
}

// The class index of each element of a BYTES classification output ("score:index:label").
std::vector<int> ClassesOf(const std::string& raw) {
  std::vector<int> classes;
  size_t at = 0;
  while (at + 4 <= raw.size()) {
    uint32_t n = 0;
    std::memcpy(&n, raw.data() + at, 4);
    const std::string element = raw.substr(at + 4, n);
    const size_t colon = element.find(':');
    classes.push_back(std::stoi(element.substr(colon + 1)));
    at += 4 + n;
  }
  return classes;
}

class OipServiceTest : public ::testing::Test {
 protected:
  void TearDown() override { Stop(); }

  // One worker, batches of up to `max_batch`, a queue of `max_queue`; tokens from `token_file`.
  void Start(int max_queue, int max_batch, const std::string& token_file = "") {
    std::vector<std::unique_ptr<Engine>> engines;
    engines.push_back(control_.MakeEngine());
    processor_ = std::make_unique<EngineBatchProcessor>(std::move(engines), 10);
    DispatcherOptions dispatcher_options;
    dispatcher_options.workers = 1;
    dispatcher_options.max_batch = max_batch;
    dispatcher_options.max_queue = max_queue;
    dispatcher_options.subnet_id = 1;
    dispatcher_options.observer = &statistics_;
    dispatcher_ =
        std::make_unique<Dispatcher>(dispatcher_options, processor_.get(), RealClock::Get());
    if (!token_file.empty()) {
      auto auth = TokenAuthenticator::Load(token_file);
      ASSERT_TRUE(auth.ok()) << auth.status();
      auth_ = *std::move(auth);
    }
    submitter_ = std::make_unique<RequestSubmitter>(dispatcher_.get(), RealClock::Get(), nullptr,
                                                    &statistics_, auth_.get());
    OipServiceOptions options;
    options.model.name = metadata_.model_name;
    options.model.labels = metadata_.labels;
    options.model.max_images = 8;
    options.workers = 1;
    options.max_batch = max_batch;
    // metadata_ itself, borrowed.
    model_ = std::make_unique<CurrentModel>(ServedModel{
        std::shared_ptr<const BundleMetadata>(std::shared_ptr<void>(), &metadata_), nullptr, ""});
    service_ = std::make_unique<OipService>(options, model_.get(), submitter_.get(), &statistics_);
    service_->SetReady(true);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = inference::GRPCInferenceService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
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

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "") {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
    return context;
  }

  BundleMetadata metadata_ = TestMetadata();
  std::unique_ptr<CurrentModel> model_;
  PixelEngineControl control_;
  InferenceStatistics statistics_;
  std::unique_ptr<EngineBatchProcessor> processor_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<TokenAuthenticator> auth_;
  std::unique_ptr<RequestSubmitter> submitter_;
  std::unique_ptr<OipService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

TEST_F(OipServiceTest, MetadataIsWhatImageClientAndPerfAnalyzerRead) {
  Start(/*max_queue=*/64, /*max_batch=*/4);
  inference::ServerMetadataResponse server;
  ASSERT_TRUE(stub_->ServerMetadata(Context().get(), {}, &server).ok());
  EXPECT_EQ(server.name(), "ternserve");
  EXPECT_THAT(server.extensions(),
              ElementsAre("classification", "model_configuration", "statistics"));

  inference::ModelMetadataRequest metadata_request;
  metadata_request.set_name("pixels");
  inference::ModelMetadataResponse metadata;
  ASSERT_TRUE(stub_->ModelMetadata(Context().get(), metadata_request, &metadata).ok());
  ASSERT_EQ(metadata.inputs_size(), 1);
  ASSERT_EQ(metadata.outputs_size(), 1);
  EXPECT_THAT(metadata.versions(), ElementsAre("1"));
  EXPECT_THAT(metadata.inputs(0).shape(), ElementsAre(-1, 1, 28, 28));
  EXPECT_EQ(metadata.outputs(0).datatype(), "FP32");

  inference::ModelConfigRequest config_request;
  config_request.set_name("pixels");
  inference::ModelConfigResponse config;
  ASSERT_TRUE(stub_->ModelConfig(Context().get(), config_request, &config).ok());
  EXPECT_EQ(config.config().max_batch_size(), 8);
  EXPECT_EQ(config.config().input(0).name(), metadata.inputs(0).name());
  EXPECT_EQ(config.config().input(0).format(), inference::ModelInput::FORMAT_NCHW);
  EXPECT_THAT(config.config().input(0).dims(), ElementsAre(1, 28, 28));
  EXPECT_EQ(config.config().output(0).name(), metadata.outputs(0).name());
  EXPECT_TRUE(config.config().has_dynamic_batching());

  config_request.set_version("2");
  EXPECT_EQ(stub_->ModelConfig(Context().get(), config_request, &config).error_code(),
            grpc::StatusCode::NOT_FOUND);
  inference::ModelReadyRequest ready_request;
  ready_request.set_name("other");
  inference::ModelReadyResponse ready;
  EXPECT_EQ(stub_->ModelReady(Context().get(), ready_request, &ready).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ready_request.set_name("pixels");
  ASSERT_TRUE(stub_->ModelReady(Context().get(), ready_request, &ready).ok());
  EXPECT_TRUE(ready.ready());
  service_->SetReady(false);
  inference::ServerReadyResponse server_ready;
  ASSERT_TRUE(stub_->ServerReady(Context().get(), {}, &server_ready).ok());
  EXPECT_FALSE(server_ready.ready());
}

TEST_F(OipServiceTest, ImagesOfOneRequestAreAnsweredInOrderAndCounted) {
  Start(/*max_queue=*/64, /*max_batch=*/2);  // five images take at least three batches
  inference::ModelInferResponse response;
  grpc::Status status =
      stub_->ModelInfer(Context().get(), RequestForClasses({3, 1, 4, 1, 5}, 1), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  EXPECT_THAT(ClassesOf(response.raw_output_contents(0)), ElementsAre(3, 1, 4, 1, 5));
  EXPECT_EQ(response.parameters().at("subnet_id").string_param(), "1,1,1,1,1");
  EXPECT_EQ(response.parameters().at("deadline_met").string_param(), "true,true,true,true,true");

  inference::ModelStatisticsResponse stats;
  ASSERT_TRUE(stub_->ModelStatistics(Context().get(), {}, &stats).ok());
  ASSERT_EQ(stats.model_stats_size(), 1);
  const inference::ModelStatistics& model = stats.model_stats(0);
  EXPECT_EQ(model.version(), "1");
  EXPECT_EQ(model.inference_count(), 5u);
  EXPECT_EQ(model.inference_stats().success().count(), 1u);
  EXPECT_EQ(model.inference_stats().queue().count(), 5u);
  EXPECT_GE(model.execution_count(), 3u);
  uint64_t batched = 0;
  for (const auto& batch : model.batch_stats())
    batched += batch.batch_size() * batch.compute_infer().count();
  EXPECT_EQ(batched, 5u);
  EXPECT_GT(model.last_inference(), 0u);
}

TEST_F(OipServiceTest, AQueueThatFillsMidwayFailsTheRequestResourceExhaustedOnceItsImagesRan) {
  Start(/*max_queue=*/2, /*max_batch=*/1);
  control_.Hold(true);
  // A first image takes the worker, which holds it; then two of the next request's three images
  // fill the queue and the third is refused.
  // Infer reads the requests until it answers: they outlive the calls.
  const inference::ModelInferRequest first_request = RequestForClasses({2}, 1);
  const inference::ModelInferRequest second_request = RequestForClasses({7, 8, 9}, 1);
  absl::Notification first_done;
  absl::StatusOr<inference::ModelInferResponse> first;
  service_->Infer(first_request, absl::InfiniteFuture(),
                  [&](absl::StatusOr<inference::ModelInferResponse> r) {
                    first = std::move(r);
                    first_done.Notify();
                  });
  control_.WaitEntered(1);
  absl::Notification second_done;
  absl::StatusOr<inference::ModelInferResponse> second;
  service_->Infer(second_request, absl::InfiniteFuture(),
                  [&](absl::StatusOr<inference::ModelInferResponse> r) {
                    second = std::move(r);
                    second_done.Notify();
                  });
  EXPECT_FALSE(second_done.HasBeenNotified());  // two of its images are still queued
  control_.Hold(false);
  second_done.WaitForNotification();
  first_done.WaitForNotification();
  EXPECT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted) << second.status();
  const InferenceStatisticsSnapshot stats = statistics_.Snapshot();
  EXPECT_EQ(stats.success.count, 1u);
  EXPECT_EQ(stats.fail.count, 1u);
  EXPECT_EQ(stats.inference_count, 1u);  // the failed request's two images ran but count nothing
  EXPECT_EQ(stats.queue.count, 3u);
}

TEST_F(OipServiceTest, StreamAnswersEveryMessageWithItsOwnErrorAndCode) {
  Start(/*max_queue=*/64, /*max_batch=*/4);
  auto context = Context();
  auto stream = stub_->ModelStreamInfer(context.get());
  inference::ModelInferRequest good = RequestForClasses({6}, 1);
  good.set_id("good");
  inference::ModelInferRequest bad = RequestForClasses({6}, 1);
  bad.set_id("bad");
  bad.mutable_inputs(0)->set_datatype("INT64");
  ASSERT_TRUE(stream->Write(bad));
  ASSERT_TRUE(stream->Write(good));
  stream->WritesDone();
  std::map<std::string, inference::ModelStreamInferResponse> answers;
  inference::ModelStreamInferResponse answer;
  while (stream->Read(&answer)) answers[answer.infer_response().id()] = answer;
  ASSERT_TRUE(stream->Finish().ok());
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_THAT(answers["bad"].error_message(), HasSubstr("input 'input': datatype INT64"));
  EXPECT_EQ(answers["bad"].infer_response().parameters().at("code").int64_param(),
            static_cast<int64_t>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(answers["good"].error_message(), "");
  EXPECT_THAT(ClassesOf(answers["good"].infer_response().raw_output_contents(0)), ElementsAre(6));
}

TEST_F(OipServiceTest, TokensAreRequiredOnEveryRpc) {
  const std::string tokens = ::testing::TempDir() + "/oip_service_test_tokens";
  std::ofstream(tokens, std::ios::trunc) << "letmein\n";
  Start(/*max_queue=*/64, /*max_batch=*/4, tokens);
  inference::ModelInferResponse response;
  EXPECT_EQ(stub_->ModelInfer(Context().get(), RequestForClasses({1}, 1), &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      stub_->ModelInfer(Context("guess").get(), RequestForClasses({1}, 1), &response).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  inference::ServerMetadataResponse server;
  EXPECT_EQ(stub_->ServerMetadata(Context().get(), {}, &server).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto stream_context = Context();
  auto stream = stub_->ModelStreamInfer(stream_context.get());
  stream->WritesDone();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  grpc::Status ok =
      stub_->ModelInfer(Context("letmein").get(), RequestForClasses({1}, 1), &response);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_TRUE(stub_->ServerMetadata(Context("letmein").get(), {}, &server).ok());
}

}  // namespace
}  // namespace ternserve
