// Tests for server/oip_request.cc: every ModelInfer rule of docs/oip.md, each with its exact code
// and a message naming what is at fault; the response's layout (raw FP32, BYTES classification,
// per-image parameters).
#include "server/oip_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "models/arch.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

OipModel TestModel() {
  OipModel model;
  model.name = "fmnist";
  for (int c = 0; c < 10; ++c) model.labels.push_back("class" + std::to_string(c));
  model.max_images = 4;
  return model;
}

std::string RawFloats(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// A valid request: `images` FP32 images [N,1,28,28] of `value`, raw.
inference::ModelInferRequest Request(int images, float value = 0.5f) {
  inference::ModelInferRequest request;
  request.set_model_name("fmnist");
  request.set_id("req-1");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP32");
  for (int64_t d : {int64_t{images}, int64_t{1}, int64_t{28}, int64_t{28}}) input->add_shape(d);
  request.add_raw_input_contents(
      RawFloats(std::vector<float>(static_cast<size_t>(images) * kImagePixels, value)));
  return request;
}

const absl::Time kArrival = absl::FromUnixSeconds(1000);

absl::StatusOr<OipInferRequest> Parse(const inference::ModelInferRequest& request,
                                      absl::Time grpc_deadline = absl::InfiniteFuture()) {
  ValidationLimits limits;
  limits.default_slo_ms = 100;
  limits.max_slo_ms = 1000;
  return ParseModelInferRequest(request, TestModel(), limits, kArrival, grpc_deadline);
}

void ExpectInvalid(const inference::ModelInferRequest& request, const std::string& part) {
  absl::StatusOr<OipInferRequest> parsed = Parse(request);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
  EXPECT_THAT(parsed.status().message(), HasSubstr(part));
}

TEST(OipRequestTest, AcceptsEveryShapeAndDefaultsTheSlo) {
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 1, 28, 28}, {2, 28, 28}, {2, 784}}) {
    inference::ModelInferRequest request = Request(2);
    request.mutable_inputs(0)->clear_shape();
    for (int64_t d : shape) request.mutable_inputs(0)->add_shape(d);
    absl::StatusOr<OipInferRequest> parsed = Parse(request);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->images, 2);
    EXPECT_EQ(parsed->pixels.size(), 2u * kImagePixels);
    EXPECT_EQ(parsed->outputs, std::vector<int>{0});
    EXPECT_EQ(parsed->deadline, kArrival + absl::Milliseconds(100));
  }
}

TEST(OipRequestTest, TimeoutIsTheWholeRequestSloAndAnEarlierGrpcDeadlineWins) {
  inference::ModelInferRequest request = Request(1);
  (*request.mutable_parameters())["timeout"].set_int64_param(25'000);
  absl::StatusOr<OipInferRequest> parsed = Parse(request);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->deadline, kArrival + absl::Milliseconds(25));
  parsed = Parse(request, kArrival + absl::Milliseconds(10));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->deadline, kArrival + absl::Milliseconds(10));
  // A gRPC deadline already passed, on an otherwise good request.
  parsed = Parse(request, kArrival);
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(OipRequestTest, BadParametersAreInvalidAndNamed) {
  inference::ModelInferRequest request = Request(1);
  (*request.mutable_parameters())["timeout"].set_int64_param(-1);
  ExpectInvalid(request, "'timeout'");
  (*request.mutable_parameters())["timeout"].set_int64_param(2'000'000);  // above max_slo_ms
  ExpectInvalid(request, "--max_slo_ms");
  (*request.mutable_parameters())["timeout"].set_string_param("fast");
  ExpectInvalid(request, "int64");
  request = Request(1);
  (*request.mutable_parameters())["input_scale"].set_string_param("percent");
  ExpectInvalid(request, "input_scale 'percent'");
  request = Request(1);
  (*request.mutable_parameters())["sequence_id"].set_int64_param(3);
  ExpectInvalid(request, "unknown request parameter 'sequence_id'");
  request = Request(1);
  (*request.mutable_parameters())["priority"].set_int64_param(2);  // accepted, not used
  EXPECT_TRUE(Parse(request).ok());
}

TEST(OipRequestTest, MinAccuracyIsADoubleParameterInZeroToOne) {
  inference::ModelInferRequest request = Request(1);
  absl::StatusOr<OipInferRequest> parsed = Parse(request);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->min_accuracy, 0);  // none
  (*request.mutable_parameters())["min_accuracy"].set_double_param(0.915);
  parsed = Parse(request);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_DOUBLE_EQ(parsed->min_accuracy, 0.915);
  (*request.mutable_parameters())["min_accuracy"].set_double_param(1.01);
  ExpectInvalid(request,
                "parameter 'min_accuracy' is 1.01, must be an expected accuracy in [0, 1]");
  (*request.mutable_parameters())["min_accuracy"].set_double_param(std::nan(""));
  ExpectInvalid(request, "must be an expected accuracy");
  (*request.mutable_parameters())["min_accuracy"].set_string_param("0.9");
  ExpectInvalid(request, "'min_accuracy' must be a double_param");
}

TEST(OipRequestTest, InputScalesMapOntoUnitPixels) {
  struct Case {
    const char* scale;
    float sent;
    float expected;
  };
  for (const Case& c : {Case{"unit", 0.25f, 0.25f}, Case{"byte", 51.0f, 0.2f},
                        Case{"inception", 0.0f, 0.5f}, Case{"inception", -1.0f, 0.0f}}) {
    inference::ModelInferRequest request = Request(1, c.sent);
    (*request.mutable_parameters())["input_scale"].set_string_param(c.scale);
    absl::StatusOr<OipInferRequest> parsed = Parse(request);
    ASSERT_TRUE(parsed.ok()) << c.scale << ": " << parsed.status();
    EXPECT_FLOAT_EQ(parsed->pixels[100], c.expected) << c.scale;
  }
  // 200 is a byte, not a unit pixel: refused under the default scale, naming the range.
  ExpectInvalid(Request(1, 200.0f), "outside [0, 1], the range of input_scale=unit");
}

TEST(OipRequestTest, Uint8AndTypedContentsAreAccepted) {
  inference::ModelInferRequest request = Request(1);
  request.mutable_inputs(0)->set_datatype("UINT8");
  request.set_raw_input_contents(0, std::string(kImagePixels, static_cast<char>(255)));
  absl::StatusOr<OipInferRequest> parsed = Parse(request);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FLOAT_EQ(parsed->pixels[0], 1.0f);

  request.clear_raw_input_contents();
  for (int i = 0; i < kImagePixels; ++i)
    request.mutable_inputs(0)->mutable_contents()->add_uint_contents(51);
  parsed = Parse(request);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FLOAT_EQ(parsed->pixels[5], 0.2f);

  inference::ModelInferRequest fp32 = Request(1);
  fp32.clear_raw_input_contents();
  for (int i = 0; i < kImagePixels; ++i)
    fp32.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.75f);
  parsed = Parse(fp32);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FLOAT_EQ(parsed->pixels[783], 0.75f);
}

TEST(OipRequestTest, MalformedInputsAreInvalidAndNameTheInput) {
  inference::ModelInferRequest request = Request(1);
  request.mutable_inputs(0)->set_datatype("FP16");
  ExpectInvalid(request, "input 'input': datatype FP16");

  request = Request(1);
  request.mutable_inputs(0)->set_shape(2, 27);
  ExpectInvalid(request, "input 'input': shape [1,1,27,28]");

  request = Request(1);
  request.set_raw_input_contents(0, std::string(100, '\0'));
  ExpectInvalid(request, "input 'input': raw_input_contents holds 100 bytes");

  request = Request(1);
  request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(0.5f);
  ExpectInvalid(request, "input 'input': data is in both contents and raw_input_contents");

  request = Request(1);
  request.clear_raw_input_contents();
  ExpectInvalid(request, "input 'input': no data");

  request = Request(1);
  request.mutable_inputs(0)->set_name("INPUT0");
  ExpectInvalid(request, "has one input, 'input'; the request has 'INPUT0'");

  request = Request(5);  // max_images is 4
  ExpectInvalid(request, "input 'input': batch of 5 images is more than max_batch_size 4");

  request = Request(1);
  request.mutable_inputs(0)->set_datatype("UINT8");
  request.clear_raw_input_contents();
  for (int i = 0; i < kImagePixels; ++i)
    request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
  ExpectInvalid(request, "input 'input': UINT8 contents must be in contents.uint_contents");
}

TEST(OipRequestTest, OutputsAreCheckedByNameAndClassificationCount) {
  inference::ModelInferRequest request = Request(1);
  request.add_outputs()->set_name("OUTPUT0");
  ExpectInvalid(request, "unknown output 'OUTPUT0'");

  request = Request(1);
  auto* output = request.add_outputs();
  output->set_name("probabilities");
  (*output->mutable_parameters())["classification"].set_int64_param(11);
  ExpectInvalid(request, "classification count 11 is not in [1, 10]");

  (*output->mutable_parameters())["classification"].set_int64_param(3);
  request.add_outputs()->set_name("probabilities");
  absl::StatusOr<OipInferRequest> parsed = Parse(request);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->outputs, ElementsAre(3, 0));
}

TEST(OipRequestTest, UnknownModelOrVersionIsNotFound) {
  inference::ModelInferRequest request = Request(1);
  request.set_model_name("resnet50");
  EXPECT_EQ(Parse(request).status().code(), absl::StatusCode::kNotFound);
  request = Request(1);
  request.set_model_version("2");
  EXPECT_EQ(Parse(request).status().code(), absl::StatusCode::kNotFound);
  request.set_model_version("1");
  EXPECT_TRUE(Parse(request).ok());
}

TEST(OipRequestTest, AtMostKOipMaxOutputsMayBeRequested) {
  inference::ModelInferRequest request = Request(1);
  for (int i = 0; i < kOipMaxOutputs; ++i) request.add_outputs()->set_name("probabilities");
  EXPECT_TRUE(Parse(request).ok());
  request.add_outputs()->set_name("probabilities");
  ExpectInvalid(request, "the request asks for 17 outputs; at most 16 may be requested");
}

// Messages quote what the client sent cut short, so that they fit in gRPC's metadata.
TEST(OipRequestTest, MessagesCutLongClientText) {
  const std::string long_text(100000, 'z');
  const std::string cut = std::string(64, 'z') + "...(100000 bytes)";
  auto expect_short = [&](const inference::ModelInferRequest& request, absl::StatusCode code,
                          const std::string& part) {
    absl::Status status = Parse(request).status();
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_THAT(status.message(), HasSubstr(part));
    EXPECT_LT(status.message().size(), 1024u) << status.message().substr(0, 1024);
  };
  inference::ModelInferRequest request = Request(1);
  request.set_model_name(long_text);
  expect_short(request, absl::StatusCode::kNotFound, "unknown model '" + cut + "'");
  request = Request(1);
  request.set_model_version(long_text);
  expect_short(request, absl::StatusCode::kNotFound, "has no version '" + cut + "'");
  request = Request(1);
  (*request.mutable_parameters())[long_text].set_int64_param(1);
  expect_short(request, absl::StatusCode::kInvalidArgument,
               "unknown request parameter '" + cut + "'");
  request = Request(1);
  (*request.mutable_parameters())["input_scale"].set_string_param(long_text);
  expect_short(request, absl::StatusCode::kInvalidArgument, "input_scale '" + cut + "'");
  request = Request(1);
  request.mutable_inputs(0)->set_datatype(long_text);
  expect_short(request, absl::StatusCode::kInvalidArgument, "datatype " + cut + " is not");
  request = Request(1);
  request.mutable_inputs(0)->set_name(long_text);
  for (int i = 0; i < 1000; ++i) *request.add_inputs() = request.inputs(0);
  expect_short(request, absl::StatusCode::kInvalidArgument, "'" + cut + "', '");
  expect_short(request, absl::StatusCode::kInvalidArgument, "... (1001 inputs)");
  request = Request(1);
  for (int i = 0; i < 10000; ++i) request.mutable_inputs(0)->add_shape(28);
  expect_short(request, absl::StatusCode::kInvalidArgument,
               "shape [1,1,28,28,28,28,28,28,...] (10004 dimensions)");
  request = Request(1);
  request.add_outputs()->set_name(long_text);
  expect_short(request, absl::StatusCode::kInvalidArgument, "unknown output '" + cut + "'");
  request = Request(1);
  auto* output = request.add_outputs();
  output->set_name("probabilities");
  (*output->mutable_parameters())[long_text].set_int64_param(1);
  expect_short(request, absl::StatusCode::kInvalidArgument, "unknown parameter '" + cut + "'");
}

// Parses the raw form of a BYTES tensor (4-byte little-endian length, bytes).
std::vector<std::string> BytesElements(const std::string& raw) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at + 4 <= raw.size()) {
    uint32_t n = 0;
    for (int b = 3; b >= 0; --b)
      n = (n << 8) | static_cast<uint8_t>(raw[at + static_cast<size_t>(b)]);
    out.push_back(raw.substr(at + 4, n));
    at += 4 + n;
  }
  return out;
}

TEST(OipRequestTest, ResponseHoldsRawProbabilitiesClassificationAndParameters) {
  inference::ModelInferRequest request = Request(2);
  auto* classify = request.add_outputs();
  classify->set_name("probabilities");
  (*classify->mutable_parameters())["classification"].set_int64_param(2);
  request.add_outputs()->set_name("probabilities");
  absl::StatusOr<OipInferRequest> parsed = Parse(request);
  ASSERT_TRUE(parsed.ok()) << parsed.status();

  BundleMetadata metadata;
  SubnetMeta subnet;
  subnet.id = 7;
  subnet.test_accuracy = 0.9123;
  metadata.subnets.push_back(subnet);
  std::vector<ImageResult> results(2);
  for (int i = 0; i < 2; ++i) {
    results[i].outcome.subnet_id = 7;
    results[i].outcome.batch_size = 2;
    results[i].outcome.deadline_met = i == 0;
    results[i].outcome.queue_time = absl::Microseconds(100 + i);
    results[i].outcome.compute_time = absl::Microseconds(250);
    results[i].logits.assign(10, 0.0f);
    results[i].logits[static_cast<size_t>(3 + i)] = 5.0f;  // image i's class is 3 + i
  }
  absl::StatusOr<inference::ModelInferResponse> response =
      BuildModelInferResponse(request, *parsed, results, TestModel(), metadata);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->model_name(), "fmnist");
  EXPECT_EQ(response->model_version(), "1");
  EXPECT_EQ(response->id(), "req-1");
  ASSERT_EQ(response->outputs_size(), 2);
  ASSERT_EQ(response->raw_output_contents_size(), 2);
  EXPECT_EQ(response->outputs(0).datatype(), "BYTES");
  EXPECT_THAT(response->outputs(0).shape(), ElementsAre(2, 2));
  const std::vector<std::string> top = BytesElements(response->raw_output_contents(0));
  ASSERT_EQ(top.size(), 4u);
  EXPECT_THAT(top[0], ::testing::MatchesRegex("0\\.9[0-9]{5}:3:class3"));
  EXPECT_THAT(top[2], ::testing::MatchesRegex("0\\.9[0-9]{5}:4:class4"));
  EXPECT_THAT(top[1], ::testing::MatchesRegex("0\\.00[0-9]{4}:0:class0"));

  EXPECT_EQ(response->outputs(1).datatype(), "FP32");
  EXPECT_THAT(response->outputs(1).shape(), ElementsAre(2, 10));
  ASSERT_EQ(response->raw_output_contents(1).size(), 2u * 10 * sizeof(float));
  std::vector<float> probabilities(20);
  std::memcpy(probabilities.data(), response->raw_output_contents(1).data(), 20 * sizeof(float));
  float sum = 0;
  for (int c = 0; c < 10; ++c) sum += probabilities[static_cast<size_t>(10 + c)];
  EXPECT_NEAR(sum, 1.0f, 1e-6);
  EXPECT_GT(probabilities[14], 0.9f);

  const auto& params = response->parameters();
  EXPECT_EQ(params.at("subnet_id").string_param(), "7,7");
  EXPECT_EQ(params.at("expected_accuracy").string_param(), "0.9123,0.9123");
  EXPECT_EQ(params.at("deadline_met").string_param(), "true,false");
  EXPECT_EQ(params.at("queue_us").string_param(), "100,101");
  EXPECT_EQ(params.at("compute_us").string_param(), "250,250");
}

TEST(OipRequestTest, FirstFailureIsTheFirstFailedImage) {
  std::vector<ImageResult> results(3);
  EXPECT_TRUE(FirstFailure(results).ok());
  results[1].outcome.status = absl::DeadlineExceededError("late");
  results[2].outcome.status = absl::ResourceExhaustedError("full");
  EXPECT_EQ(FirstFailure(results).code(), absl::StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace ternserve
