// End-to-end Open Inference Protocol tests on the real ternserve binary: ModelInfer of several real
// Fashion-MNIST images answers what the in-process reference computes, and the request limits
// (--max_message_bytes, --max_images_per_request) refuse with a message while the server keeps
// serving.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "inference/grpc_service.grpc.pb.h"
#include "tests/e2e/server_fixture.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

class ServerOipE2eTest : public ServerE2eTest {
 protected:
  void SetUp() override {
    // 16 FP32 images are 50 KB: above this limit. 4 images are 12.5 KB: below.
    flags_.push_back("--max_message_bytes=32768");
    flags_.push_back("--max_images_per_request=8");
    ServerE2eTest::SetUp();
    stub_ = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()));
    inference::ModelMetadataResponse metadata;
    inference::ModelMetadataRequest request;
    request.set_name(GetReference().bundle->metadata().model_name);
    ASSERT_TRUE(stub_->ModelMetadata(Context().get(), request, &metadata).ok());
    model_ = metadata.name();
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return context;
  }

  // Test images first..first+n-1 as one FP32 [n,1,28,28] raw request.
  inference::ModelInferRequest Images(int first, int n) {
    return OipImageRequest(model_, first, n);
  }

  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  std::string model_;
};

TEST_F(ServerOipE2eTest, ModelInferMatchesTheReferenceImageByImage) {
  inference::ModelInferResponse response;
  grpc::Status status = stub_->ModelInfer(Context().get(), Images(10, 4), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.raw_output_contents_size(), 1);
  ASSERT_EQ(response.raw_output_contents(0).size(), 4u * 10 * sizeof(float));
  std::vector<float> probabilities(40);
  std::memcpy(probabilities.data(), response.raw_output_contents(0).data(), 40 * sizeof(float));
  const Reference& ref = GetReference();
  for (int i = 0; i < 4; ++i) {
    for (int c = 0; c < 10; ++c) {
      EXPECT_NEAR(probabilities[static_cast<size_t>(10 * i + c)],
                  ref.probabilities[static_cast<size_t>(10 + i)][static_cast<size_t>(c)],
                  kProbabilityTolerance)
          << "image " << 10 + i << " class " << c;
    }
  }
  EXPECT_EQ(
      response.parameters().at("subnet_id").string_param(),
      absl::StrCat(ref.subnet_id, ",", ref.subnet_id, ",", ref.subnet_id, ",", ref.subnet_id));
}

TEST_F(ServerOipE2eTest, OversizedRequestsAreRefusedAndTheServerKeepsServing) {
  inference::ModelInferResponse response;
  // Above --max_message_bytes: gRPC's own check, before our code sees it.
  grpc::Status big = stub_->ModelInfer(Context().get(), Images(0, 16), &response);
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << big.error_message();
  // Within the bytes but above --max_images_per_request.
  inference::ModelInferRequest many = Images(0, 9);
  many.mutable_inputs(0)->set_shape(0, 9);
  grpc::Status too_many = stub_->ModelInfer(Context().get(), many, &response);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_many.error_message(), HasSubstr("more than max_batch_size 8"));
  // And the next request is served.
  grpc::Status ok = stub_->ModelInfer(Context().get(), Images(0, 2), &response);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
}

}  // namespace
}  // namespace ternserve
