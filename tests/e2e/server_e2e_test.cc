// End-to-end tests: the real `ternserve` binary serving the tiny e2e bundle, driven through the
// client library and through `ternserve-cli`; answers are checked against the same bundle run
// in-process (server_fixture.h). Also every bad input over the real RPC, a stream with bad
// messages, GetModelInfo and health.
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "scheduler/latency_profile.h"
#include "tests/e2e/server_fixture.h"
#include "tests/testing/test_images.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

TEST_F(ServerE2eTest, UnaryClassifyMatchesInProcessEngine) {
  for (int i = 0; i < kE2eImages; ++i) {
    absl::StatusOr<v1::ClassifyResponse> response =
        client_->Classify(ImageRequest(i), absl::Seconds(30));
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->request_id(), absl::StrCat("img-", i));
    EXPECT_TRUE(response->deadline_met());
    ExpectMatchesReference(*response, i);
  }
}

TEST_F(ServerE2eTest, StreamClassifyMatchesInProcessEngine) {
  std::vector<v1::ClassifyRequest> requests;
  for (int i = 0; i < kE2eImages; ++i) requests.push_back(ImageRequest(i));
  auto responses = client_->ClassifyStream(requests, absl::Seconds(60));
  ASSERT_TRUE(responses.ok()) << responses.status();
  ASSERT_EQ(responses->size(), static_cast<size_t>(kE2eImages));
  std::map<std::string, v1::ClassifyResponse> by_id;
  for (const auto& r : *responses) by_id[r.request_id()] = r;
  ASSERT_EQ(by_id.size(), static_cast<size_t>(kE2eImages));
  for (int i = 0; i < kE2eImages; ++i) {
    const v1::ClassifyResponse& r = by_id[absl::StrCat("img-", i)];
    EXPECT_EQ(r.status().code(), 0) << r.status().message();
    ExpectMatchesReference(r, i);
  }
}

TEST_F(ServerE2eTest, CliClassifyJsonMatchesInProcessEngine) {
  for (int i : {0, 1, 17, 63}) {
    auto [code, out] =
        RunCli({"classify", "--server=" + address_, absl::StrCat("--idx=", kTestImages),
                absl::StrCat("--index=", i), "--top_k=10", "--json", "--request_id=cli"});
    ASSERT_EQ(code, 0) << out;
    nlohmann::json json = nlohmann::json::parse(out);  // exactly one object
    ASSERT_TRUE(json.is_object());
    v1::ClassifyResponse response;
    response.set_request_id(json.at("request_id").get<std::string>());
    for (const auto& p : json.at("top_k")) {
      v1::Prediction* prediction = response.add_top_k();
      prediction->set_class_id(p.at("class_id").get<int>());
      prediction->set_label(p.at("label").get<std::string>());
      prediction->set_probability(p.at("probability").get<float>());
    }
    response.mutable_subnet()->set_id(json.at("subnet").at("id").get<int>());
    response.mutable_subnet()->set_name(json.at("subnet").at("name").get<std::string>());
    response.set_queue_us(json.at("queue_us").get<int64_t>());
    response.set_compute_us(json.at("compute_us").get<int64_t>());
    response.set_batch_size(json.at("batch_size").get<int>());
    EXPECT_EQ(response.request_id(), "cli");
    response.set_deadline_met(json.at("deadline_met").get<bool>());
    EXPECT_TRUE(json.at("subnet").at("expected_accuracy").is_number());
    ExpectMatchesReference(response, i);
  }
  // Human-readable output names the top class.
  auto [code, out] = RunCli(
      {"classify", "--server=" + address_, absl::StrCat("--idx=", kTestImages), "--index=0"});
  ASSERT_EQ(code, 0);
  const auto& ref = GetReference();
  EXPECT_THAT(out, HasSubstr(ref.bundle->metadata().labels[ArgMax(ref.probabilities[0])]));
  EXPECT_THAT(out, HasSubstr("sub-net"));
}

TEST_F(ServerE2eTest, CliSendsEncodedImagesAndReportsRpcErrors) {
  const std::string png_path = dir_ + "/img.png";
  {
    const ImageSet& images = GetReference().images;
    std::vector<uint8_t> pixels(images.pixels.begin(), images.pixels.begin() + 784);
    std::ofstream(png_path, std::ios::binary) << testing::GreyPng(28, 28, pixels);
  }
  auto [code, out] =
      RunCli({"classify", "--server=" + address_, "--image=" + png_path, "--json", "--top_k=10"});
  ASSERT_EQ(code, 0);
  nlohmann::json json = nlohmann::json::parse(out);
  EXPECT_EQ(json.at("top_k").at(0).at("class_id").get<int>(),
            ArgMax(GetReference().probabilities[0]));

  const std::string bad_path = dir_ + "/bad.png";
  std::ofstream(bad_path, std::ios::binary) << testing::GreyPng(27, 28, testing::Pattern(27 * 28));
  std::tie(code, out) = RunCli({"classify", "--server=" + address_, "--image=" + bad_path});
  EXPECT_EQ(code, 1);  // RPC error; the CLI prints INVALID_ARGUMENT on stderr
  std::tie(code, out) =
      RunCli({"classify", "--server=" + address_, "--image=" + png_path, "--top_k=11"});
  EXPECT_EQ(code, 1);
  std::tie(code, out) = RunCli({"classify", "--server=" + address_});  // no image: usage error
  EXPECT_EQ(code, 2);
}

TEST_F(ServerE2eTest, ModelInfoAndHealth) {
  absl::StatusOr<v1::ModelInfo> info = client_->GetModelInfo(absl::Seconds(10));
  ASSERT_TRUE(info.ok()) << info.status();
  const BundleMetadata& metadata = GetReference().bundle->metadata();
  EXPECT_EQ(info->model_name(), metadata.model_name);
  ASSERT_EQ(info->labels_size(), static_cast<int>(metadata.labels.size()));
  for (size_t i = 0; i < metadata.labels.size(); ++i)
    EXPECT_EQ(info->labels(i), metadata.labels[i]);
  ASSERT_EQ(info->subnets_size(), static_cast<int>(metadata.subnets.size()));
  for (size_t i = 0; i < metadata.subnets.size(); ++i) {
    const SubnetMeta& m = metadata.subnets[i];
    const v1::SubnetInfo& s = info->subnets(static_cast<int>(i));
    EXPECT_EQ(s.id(), m.id);
    EXPECT_EQ(s.name(), m.name);
    EXPECT_EQ(s.macs(), m.macs);
    EXPECT_EQ(s.params(), m.params);
    EXPECT_DOUBLE_EQ(s.test_accuracy(), m.test_accuracy);
    EXPECT_DOUBLE_EQ(s.val_accuracy(), m.val_accuracy);
    EXPECT_THAT(s.depths(), ::testing::ElementsAreArray(m.config.depths));
    EXPECT_THAT(s.widths(), ::testing::ElementsAreArray(m.config.widths));
  }
  EXPECT_EQ(info->policy(), absl::StrCat("fixed:", GetReference().bundle->LargestSubnet().id));
  // The latency table the policy decides with: every sub-net at every profiled batch size.
  EXPECT_EQ(info->latency_table_size(),
            static_cast<int>(metadata.subnets.size() * std::size(kProfiledBatches)));
  for (const v1::LatencyEntry& e : info->latency_table()) {
    EXPECT_GT(e.p50_us(), 0);
    EXPECT_GE(e.p99_us(), e.p50_us());
  }
  EXPECT_EQ(info->engine(), "ternary");
  EXPECT_EQ(info->quantizer(), metadata.quantizer);
  EXPECT_EQ(info->version(), "0.1.0");

  absl::StatusOr<std::string> health = client_->CheckHealth(absl::Seconds(10));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, "SERVING");
  auto [code, out] = RunCli({"health", "--server=" + address_});
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, "SERVING\n");
  std::tie(code, out) = RunCli({"info", "--server=" + address_, "--json"});
  ASSERT_EQ(code, 0);
  EXPECT_EQ(nlohmann::json::parse(out).at("subnets").size(), metadata.subnets.size());
}

struct BadInput {
  std::string name;
  std::function<void(v1::ClassifyRequest*)> mutate;
  absl::StatusCode code;
  absl::Duration timeout = absl::Seconds(10);
};

TEST_F(ServerE2eTest, EveryBadInputGetsItsStatusAndTheServerKeepsServing) {
  const std::vector<BadInput> cases = {
      {"no image", [](auto* r) { r->clear_image(); }, absl::StatusCode::kInvalidArgument},
      {"783 pixels", [](auto* r) { r->mutable_pixels()->mutable_values()->RemoveLast(); },
       absl::StatusCode::kInvalidArgument},
      {"NaN pixel",
       [](auto* r) { r->mutable_pixels()->set_values(9, std::numeric_limits<float>::quiet_NaN()); },
       absl::StatusCode::kInvalidArgument},
      {"pixel 1.5", [](auto* r) { r->mutable_pixels()->set_values(9, 1.5f); },
       absl::StatusCode::kInvalidArgument},
      {"empty encoded", [](auto* r) { r->set_encoded(""); }, absl::StatusCode::kInvalidArgument},
      {"garbage encoded", [](auto* r) { r->set_encoded("\x01\x02garbage"); },
       absl::StatusCode::kInvalidArgument},
      {"2 MiB encoded", [](auto* r) { r->set_encoded(std::string(2 << 20, 'x')); },
       absl::StatusCode::kInvalidArgument},
      {"5 MiB message", [](auto* r) { r->set_encoded(std::string(5 << 20, 'x')); },
       absl::StatusCode::kResourceExhausted},
      {"27x28 PNG",
       [](auto* r) { r->set_encoded(testing::GreyPng(27, 28, testing::Pattern(27 * 28))); },
       absl::StatusCode::kInvalidArgument},
      {"slo -1", [](auto* r) { r->set_latency_slo_ms(-1); }, absl::StatusCode::kInvalidArgument},
      {"slo 1e9", [](auto* r) { r->set_latency_slo_ms(1e9); }, absl::StatusCode::kInvalidArgument},
      {"top_k 11", [](auto* r) { r->set_top_k(11); }, absl::StatusCode::kInvalidArgument},
      {"top_k -1", [](auto* r) { r->set_top_k(-1); }, absl::StatusCode::kInvalidArgument},
      {"200-byte request_id", [](auto* r) { r->set_request_id(std::string(200, 'r')); },
       absl::StatusCode::kInvalidArgument},
      {"expired deadline", [](auto*) {}, absl::StatusCode::kDeadlineExceeded,
       absl::Milliseconds(-100)},
  };
  for (const BadInput& bad : cases) {
    SCOPED_TRACE(bad.name);
    v1::ClassifyRequest request = ImageRequest(3);
    bad.mutate(&request);
    absl::StatusOr<v1::ClassifyResponse> response = client_->Classify(request, bad.timeout);
    EXPECT_EQ(response.status().code(), bad.code) << response.status();
    // The server keeps serving.
    absl::StatusOr<v1::ClassifyResponse> good =
        client_->Classify(ImageRequest(3), absl::Seconds(10));
    ASSERT_TRUE(good.ok()) << good.status();
    ExpectMatchesReference(*good, 3);
  }
}

TEST_F(ServerE2eTest, StreamWithABadMessageAnswersItAndTheRest) {
  std::vector<v1::ClassifyRequest> requests;
  for (int i = 0; i < 10; ++i) requests.push_back(ImageRequest(i));
  requests[4].mutable_pixels()->set_values(0, std::numeric_limits<float>::infinity());
  requests[7].set_top_k(11);
  auto responses = client_->ClassifyStream(requests, absl::Seconds(30));
  ASSERT_TRUE(responses.ok()) << responses.status();
  ASSERT_EQ(responses->size(), 10u);
  for (const v1::ClassifyResponse& r : *responses) {
    const int i = std::stoi(r.request_id().substr(4));
    if (i == 4 || i == 7) {
      EXPECT_EQ(r.status().code(), static_cast<int>(absl::StatusCode::kInvalidArgument)) << i;
      EXPECT_FALSE(r.status().message().empty());
      EXPECT_EQ(r.top_k_size(), 0);
    } else {
      EXPECT_EQ(r.status().code(), 0) << r.status().message();
      ExpectMatchesReference(r, i);
    }
  }
}

}  // namespace
}  // namespace ternserve
