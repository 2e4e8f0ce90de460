// The load generator's messages (client/loadgen_messages.h): the OIP request it builds for one
// image, and how it reads the answers of both APIs, well-formed or not.
#include "client/loadgen_messages.h"

#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ternserve {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;
using inference::ModelStreamInferResponse;
using ::testing::HasSubstr;

constexpr int32_t kInternal = 13;
constexpr int32_t kUnknown = 2;

// One BYTES element as the server lays it out: 4-byte little-endian length, then the bytes.
std::string BytesElement(const std::string& element) {
  const uint32_t n = static_cast<uint32_t>(element.size());
  std::string raw = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                     static_cast<char>((n >> 16) & 0xff), static_cast<char>(n >> 24)};
  return raw + element;
}

// What ternserve answers for one image with the classification output (docs/oip.md).
ModelInferResponse ServerAnswer(const std::string& element = "0.912345:9:Ankle boot") {
  ModelInferResponse response;
  response.set_model_name("fashion");
  response.set_model_version("1");
  response.set_id("42");
  ModelInferResponse::InferOutputTensor* output = response.add_outputs();
  output->set_name("probabilities");
  output->set_datatype("BYTES");
  output->add_shape(1);
  output->add_shape(1);
  response.add_raw_output_contents(BytesElement(element));
  (*response.mutable_parameters())["subnet_id"].set_string_param("3");
  (*response.mutable_parameters())["expected_accuracy"].set_string_param("0.9012");
  (*response.mutable_parameters())["deadline_met"].set_string_param("true");
  (*response.mutable_parameters())["queue_us"].set_string_param("120");
  (*response.mutable_parameters())["compute_us"].set_string_param("340");
  return response;
}

TEST(LoadgenApiTest, ParsesTheTwoNames) {
  EXPECT_EQ(*ParseLoadgenApi("ternserve"), LoadgenApi::kTernserve);
  EXPECT_EQ(*ParseLoadgenApi("oip"), LoadgenApi::kOip);
  EXPECT_EQ(LoadgenApiName(LoadgenApi::kOip), "oip");
  EXPECT_EQ(LoadgenApiName(LoadgenApi::kTernserve), "ternserve");
  for (const char* bad : {"", "OIP", "kserve", "ternserve "}) {
    EXPECT_EQ(ParseLoadgenApi(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(OipRequestTest, OneFp32ImageWithItsSloAndTheClassificationOutput) {
  std::vector<float> pixels(784);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<float>(i % 256) / 255.0f;
  const std::string image = OipImageBytes(pixels);
  ASSERT_EQ(image.size(), 784 * sizeof(float));

  ModelInferRequest request;
  FillModelInferRequest(&image, 12.5f, 0, "fashion", "17", &request);
  EXPECT_EQ(request.model_name(), "fashion");
  EXPECT_EQ(request.model_version(), "");
  EXPECT_EQ(request.id(), "17");
  ASSERT_EQ(request.parameters().size(), 1u);
  const inference::InferParameter& timeout = request.parameters().at("timeout");
  ASSERT_EQ(timeout.parameter_choice_case(), inference::InferParameter::kInt64Param);
  EXPECT_EQ(timeout.int64_param(), 12500);  // µs

  ASSERT_EQ(request.inputs_size(), 1);
  const ModelInferRequest::InferInputTensor& input = request.inputs(0);
  EXPECT_EQ(input.name(), "input");
  EXPECT_EQ(input.datatype(), "FP32");
  EXPECT_THAT(input.shape(), ::testing::ElementsAre(1, 1, 28, 28));
  EXPECT_FALSE(input.has_contents());  // raw only: never both

  ASSERT_EQ(request.outputs_size(), 1);
  EXPECT_EQ(request.outputs(0).name(), "probabilities");
  const auto& classification = request.outputs(0).parameters().at("classification");
  ASSERT_EQ(classification.parameter_choice_case(), inference::InferParameter::kInt64Param);
  EXPECT_EQ(classification.int64_param(), 1);

  // The image is borrowed, not copied, and holds the pixels as little-endian FP32.
  ASSERT_EQ(request.raw_input_contents_size(), 1);
  EXPECT_EQ(&request.raw_input_contents(0), &image);
  std::vector<float> sent(784);
  std::memcpy(sent.data(), request.raw_input_contents(0).data(), image.size());
  EXPECT_EQ(sent, pixels);
  // The wire form carries the bytes (serialization reads the borrowed string).
  ModelInferRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(request.SerializeAsString()));
  EXPECT_EQ(parsed.raw_input_contents(0), image);

  ReleaseModelInferImage(&request);
  EXPECT_EQ(request.raw_input_contents_size(), 0);
  EXPECT_EQ(image.size(), 784 * sizeof(float));  // still the caller's
}

TEST(OipRequestTest, ImageBytesAreLittleEndianFloats) {
  const std::string bytes = OipImageBytes(std::vector<float>{1.0f, 0.0f});
  EXPECT_EQ(bytes, std::string("\x00\x00\x80\x3f\x00\x00\x00\x00", 8));  // 1.0f = 0x3f800000
}

TEST(OipRequestTest, TimeoutIsTheSloInWholeMicroseconds) {
  const struct {
    float slo_ms;
    int64_t us;
  } cases[] = {{50, 50000}, {0.4f, 400}, {12.3456f, 12346}, {3600000, 3600000000}, {0.0001f, 1}};
  for (const auto& c : cases) EXPECT_EQ(OipTimeoutUs(c.slo_ms), c.us) << c.slo_ms;
}

TEST(OipAnswerTest, ReadsTheClassificationAndTheParameters) {
  const ModelInferResponse response = ServerAnswer();
  const LoadgenAnswer answer = ReadModelInferResponse(response);
  EXPECT_EQ(answer.code, 0) << answer.problem;
  EXPECT_EQ(answer.problem, "");
  EXPECT_EQ(answer.request_id, "42");
  EXPECT_EQ(answer.class_id, 9);
  EXPECT_EQ(answer.subnet_id, 3);
  EXPECT_FLOAT_EQ(answer.expected_accuracy, 0.9012f);
  EXPECT_TRUE(answer.deadline_met);
  EXPECT_EQ(answer.queue_us, 120);  // the server's timings, from the parameters
  EXPECT_EQ(answer.compute_us, 340);

  ModelInferResponse missed = ServerAnswer("0.5:0:T-shirt/top");
  (*missed.mutable_parameters())["deadline_met"].set_string_param("false");
  const LoadgenAnswer late = ReadModelInferResponse(missed);
  EXPECT_EQ(late.code, 0) << late.problem;
  EXPECT_EQ(late.class_id, 0);
  EXPECT_FALSE(late.deadline_met);
}

TEST(OipAnswerTest, ALabelWithColonsAndAnFp32OutputBesideAreFine) {
  ModelInferResponse response = ServerAnswer("0.100000:4:a:b:c");
  // The FP32 form first (had both been asked for): passed over for the classification.
  ModelInferResponse::InferOutputTensor* fp32 = response.mutable_outputs()->Add();
  fp32->set_name("probabilities");
  fp32->set_datatype("FP32");
  response.mutable_outputs()->SwapElements(0, 1);
  response.mutable_raw_output_contents()->Add(std::string(40, '\0'));
  response.mutable_raw_output_contents()->SwapElements(0, 1);
  const LoadgenAnswer answer = ReadModelInferResponse(response);
  EXPECT_EQ(answer.code, 0) << answer.problem;
  EXPECT_EQ(answer.class_id, 4);
}

TEST(OipAnswerTest, AnUnreadableAnswerIsInternalSayingWhy) {
  const struct {
    const char* name;
    void (*mutate)(ModelInferResponse*);
    const char* problem;
  } cases[] = {
      {"no outputs", [](ModelInferResponse* r) { r->clear_outputs(); },
       "no output 'probabilities'"},
      {"FP32 only", [](ModelInferResponse* r) { r->mutable_outputs(0)->set_datatype("FP32"); },
       "without the classification"},
      {"no raw contents", [](ModelInferResponse* r) { r->clear_raw_output_contents(); },
       "no raw_output_contents"},
      {"length past the end",
       [](ModelInferResponse* r) { r->mutable_raw_output_contents(0)->resize(10); },
       "no whole BYTES element"},
      {"shorter than a length",
       [](ModelInferResponse* r) { r->mutable_raw_output_contents(0)->resize(3); },
       "no whole BYTES element"},
      {"two fields",
       [](ModelInferResponse* r) { *r->mutable_raw_output_contents(0) = BytesElement("0.9:9"); },
       "not '<score>:<index>:<label>'"},
      {"index not a number",
       [](ModelInferResponse* r) { *r->mutable_raw_output_contents(0) = BytesElement("0.9:x:y"); },
       "not '<score>:<index>:<label>'"},
      {"no subnet_id", [](ModelInferResponse* r) { r->mutable_parameters()->erase("subnet_id"); },
       "no parameter 'subnet_id'"},
      {"subnet_id an int64",
       [](ModelInferResponse* r) { (*r->mutable_parameters())["subnet_id"].set_int64_param(3); },
       "'subnet_id' is not a string_param"},
      {"two images' subnet_id",
       [](ModelInferResponse* r) {
         (*r->mutable_parameters())["subnet_id"].set_string_param("3,1");
       },
       "not one sub-net id"},
      {"no expected_accuracy",
       [](ModelInferResponse* r) { r->mutable_parameters()->erase("expected_accuracy"); },
       "no parameter 'expected_accuracy'"},
      {"deadline_met yes",
       [](ModelInferResponse* r) {
         (*r->mutable_parameters())["deadline_met"].set_string_param("yes");
       },
       "not true or false"},
      {"no queue_us", [](ModelInferResponse* r) { r->mutable_parameters()->erase("queue_us"); },
       "no parameter 'queue_us'"},
      {"compute_us a list",
       [](ModelInferResponse* r) {
         (*r->mutable_parameters())["compute_us"].set_string_param("340,20");
       },
       "not one time in us"},
  };
  for (const auto& c : cases) {
    ModelInferResponse response = ServerAnswer();
    c.mutate(&response);
    const LoadgenAnswer answer = ReadModelInferResponse(response);
    EXPECT_EQ(answer.code, kInternal) << c.name;
    EXPECT_THAT(answer.problem, HasSubstr(c.problem)) << c.name;
    EXPECT_EQ(answer.request_id, "42") << c.name;  // still matched to its request on a stream
  }
}

TEST(OipStreamAnswerTest, AFailedRequestCarriesItsIdAndCode) {
  ModelStreamInferResponse message;
  message.set_error_message("no sub-net can answer before the deadline");
  message.mutable_infer_response()->set_id("7");
  (*message.mutable_infer_response()->mutable_parameters())["code"].set_int64_param(4);
  LoadgenAnswer answer = ReadModelStreamInferResponse(message);
  EXPECT_EQ(answer.code, 4);  // DEADLINE_EXCEEDED
  EXPECT_EQ(answer.request_id, "7");
  EXPECT_EQ(answer.problem, "");

  (*message.mutable_infer_response()->mutable_parameters())["code"].set_int64_param(8);
  EXPECT_EQ(ReadModelStreamInferResponse(message).code, 8);  // RESOURCE_EXHAUSTED

  // No code, a code that is no failure, or one of the wrong type: UNKNOWN, never OK.
  const struct {
    const char* name;
    void (*set)(inference::InferParameter*);
  } unknown[] = {
      {"no code", nullptr},
      {"code 0", [](inference::InferParameter* p) { p->set_int64_param(0); }},
      {"code 99", [](inference::InferParameter* p) { p->set_int64_param(99); }},
      {"string code", [](inference::InferParameter* p) { p->set_string_param("4"); }},
  };
  for (const auto& c : unknown) {
    ModelStreamInferResponse failed;
    failed.set_error_message("failed");
    failed.mutable_infer_response()->set_id("8");
    if (c.set != nullptr) c.set(&(*failed.mutable_infer_response()->mutable_parameters())["code"]);
    answer = ReadModelStreamInferResponse(failed);
    EXPECT_EQ(answer.code, kUnknown) << c.name;
    EXPECT_EQ(answer.request_id, "8") << c.name;
  }
}

TEST(OipStreamAnswerTest, ASuccessIsReadAsTheUnaryAnswer) {
  ModelStreamInferResponse message;
  *message.mutable_infer_response() = ServerAnswer();
  const LoadgenAnswer answer = ReadModelStreamInferResponse(message);
  EXPECT_EQ(answer.code, 0) << answer.problem;
  EXPECT_EQ(answer.request_id, "42");
  EXPECT_EQ(answer.class_id, 9);
  EXPECT_EQ(answer.subnet_id, 3);
}

TEST(TernserveMessagesTest, RequestBorrowsThePixelsAndAnswerIsRead) {
  v1::Pixels pixels;
  pixels.add_values(0.25f);
  v1::ClassifyRequest request;
  FillClassifyRequest(&pixels, 20, 0, "5", &request);
  EXPECT_EQ(&request.pixels(), &pixels);
  EXPECT_FLOAT_EQ(request.latency_slo_ms(), 20);
  EXPECT_EQ(request.top_k(), 1);
  EXPECT_EQ(request.request_id(), "5");
  ReleaseClassifyImage(&request);
  EXPECT_FALSE(request.has_pixels());
  EXPECT_EQ(pixels.values_size(), 1);

  v1::ClassifyResponse response;
  response.set_request_id("5");
  response.add_top_k()->set_class_id(7);
  response.mutable_subnet()->set_id(2);
  response.mutable_subnet()->set_expected_accuracy(0.875);
  response.set_queue_us(30);
  response.set_compute_us(400);
  response.set_deadline_met(true);
  LoadgenAnswer answer = ReadClassifyResponse(response);
  EXPECT_EQ(answer.code, 0);
  EXPECT_EQ(answer.request_id, "5");
  EXPECT_EQ(answer.class_id, 7);
  EXPECT_EQ(answer.subnet_id, 2);
  EXPECT_FLOAT_EQ(answer.expected_accuracy, 0.875f);
  EXPECT_EQ(answer.queue_us, 30);
  EXPECT_EQ(answer.compute_us, 400);
  EXPECT_TRUE(answer.deadline_met);

  // A stream message's own status.
  response.mutable_status()->set_code(8);
  answer = ReadClassifyResponse(response);
  EXPECT_EQ(answer.code, 8);
  EXPECT_EQ(answer.request_id, "5");
}

}  // namespace
}  // namespace ternserve
