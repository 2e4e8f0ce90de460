// Tests for server/classify_response.cc: softmax, top-k order and ties, and the response fields.
#include "server/classify_response.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

TEST(SoftmaxTest, MatchesTheDefinitionAndIsStable) {
  const std::vector<float> p = Softmax({1.0f, 2.0f, 3.0f});
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(p[0], std::exp(1.0) / z, 1e-7);
  EXPECT_NEAR(p[2], std::exp(3.0) / z, 1e-7);
  const std::vector<float> big = Softmax({1000.0f, 1000.0f});  // would overflow without the shift
  EXPECT_FLOAT_EQ(big[0], 0.5f);
  EXPECT_FLOAT_EQ(big[1], 0.5f);
  EXPECT_TRUE(Softmax({}).empty());
}

TEST(TopKTest, SortsByProbabilityThenClassId) {
  EXPECT_THAT(TopK({0.1f, 0.4f, 0.1f, 0.4f}, 3),
              ElementsAre(Pair(1, 0.4f), Pair(3, 0.4f), Pair(0, 0.1f)));
  EXPECT_THAT(TopK({0.2f, 0.8f}, 5), ElementsAre(Pair(1, 0.8f), Pair(0, 0.2f)));
  EXPECT_TRUE(TopK({0.2f, 0.8f}, 0).empty());
}

BundleMetadata TwoClassMetadata() {
  BundleMetadata metadata;
  metadata.labels = {"cat", "dog"};
  SubnetMeta subnet;
  subnet.id = 3;
  subnet.name = "d1.1.1-w8.16.32";
  subnet.test_accuracy = 0.875;
  metadata.subnets.push_back(subnet);
  return metadata;
}

TEST(FillClassifyResponseTest, FillsEveryField) {
  ImageResult completion;
  completion.logits = {0.0f, std::log(3.0f)};  // probabilities 0.25, 0.75
  completion.outcome.subnet_id = 3;
  completion.outcome.batch_size = 4;
  completion.outcome.queue_time = absl::Microseconds(40);
  completion.outcome.compute_time = absl::Microseconds(1800);
  completion.outcome.deadline_met = true;
  v1::ClassifyResponse response;
  ASSERT_TRUE(FillClassifyResponse(completion, 2, TwoClassMetadata(), &response).ok());
  ASSERT_EQ(response.top_k_size(), 2);
  EXPECT_EQ(response.top_k(0).class_id(), 1);
  EXPECT_EQ(response.top_k(0).label(), "dog");
  EXPECT_NEAR(response.top_k(0).probability(), 0.75, 1e-6);
  EXPECT_EQ(response.top_k(1).label(), "cat");
  EXPECT_EQ(response.subnet().id(), 3);
  EXPECT_EQ(response.subnet().name(), "d1.1.1-w8.16.32");
  EXPECT_DOUBLE_EQ(response.subnet().expected_accuracy(), 0.875);
  EXPECT_EQ(response.queue_us(), 40);
  EXPECT_EQ(response.compute_us(), 1800);
  EXPECT_EQ(response.batch_size(), 4);
  EXPECT_TRUE(response.deadline_met());
}

TEST(FillClassifyResponseTest, WrongLogitCountIsInternal) {
  ImageResult completion;
  completion.logits = {1.0f, 2.0f, 3.0f};
  v1::ClassifyResponse response;
  EXPECT_EQ(FillClassifyResponse(completion, 1, TwoClassMetadata(), &response).code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace ternserve
