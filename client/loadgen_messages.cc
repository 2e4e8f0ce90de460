// The load generator's messages. See loadgen_messages.h.
#include "client/loadgen_messages.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ternserve {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "OIP raw tensors are little-endian: OipImageBytes copies floats as they are");

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

// docs/oip.md, "The model".
constexpr char kInputName[] = "input";
constexpr char kOutputName[] = "probabilities";
constexpr int64_t kImageShape[] = {1, 1, 28, 28};

constexpr int32_t kInternal = static_cast<int32_t>(absl::StatusCode::kInternal);
constexpr int32_t kUnknown = static_cast<int32_t>(absl::StatusCode::kUnknown);

// The string parameter `name` of `response`, or null (with `problem` set) if it is missing or not
// a string.
const std::string* StringParameter(const ModelInferResponse& response, const std::string& name,
                                   std::string* problem) {
  const auto it = response.parameters().find(name);
  if (it == response.parameters().end()) {
    *problem = absl::StrCat("the answer has no parameter '", name, "'");
    return nullptr;
  }
  if (it->second.parameter_choice_case() != InferParameter::kStringParam) {
    *problem = absl::StrCat("the answer's parameter '", name, "' is not a string_param");
    return nullptr;
  }
  return &it->second.string_param();
}

// The top class of the classification output (BYTES: 4-byte little-endian length, then
// "<score>:<index>:<label>"), or -1 with `problem` set. The FP32 form of the same output, had it
// been asked for too, is passed over.
int32_t TopClass(const ModelInferResponse& response, std::string* problem) {
  bool fp32_only = false;
  for (int i = 0; i < response.outputs_size(); ++i) {
    const ModelInferResponse::InferOutputTensor& output = response.outputs(i);
    if (output.name() != kOutputName) continue;
    if (output.datatype() != "BYTES") {
      fp32_only = true;
      continue;
    }
    if (i >= response.raw_output_contents_size()) {
      *problem = absl::StrCat("output '", kOutputName, "' has no raw_output_contents");
      return -1;
    }
    const std::string& raw = response.raw_output_contents(i);
    uint32_t length = 0;
    if (raw.size() >= 4) {
      const auto* b = reinterpret_cast<const unsigned char*>(raw.data());
      length = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
    }
    if (raw.size() < 4 || raw.size() - 4 < length) {
      *problem = absl::StrCat("output '", kOutputName, "' holds no whole BYTES element");
      return -1;
    }
    const absl::string_view element = absl::string_view(raw).substr(4, length);
    const std::vector<absl::string_view> parts = absl::StrSplit(element, absl::MaxSplits(':', 2));
    int32_t index = -1;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &index) || index < 0) {
      *problem = absl::StrCat("output '", kOutputName, "': '", element,
                              "' is not '<score>:<index>:<label>'");
      return -1;
    }
    return index;
  }
  *problem = fp32_only ? absl::StrCat("output '", kOutputName,
                                      "' came back without the classification (BYTES)")
                       : absl::StrCat("the answer has no output '", kOutputName, "'");
  return -1;
}

}  // namespace

absl::StatusOr<LoadgenApi> ParseLoadgenApi(absl::string_view name) {
  if (name == "ternserve") return LoadgenApi::kTernserve;
  if (name == "oip") return LoadgenApi::kOip;
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not ternserve (ternserve.v1.Classifier) or oip (the Open ",
                   "Inference Protocol)"));
}

absl::string_view LoadgenApiName(LoadgenApi api) {
  return api == LoadgenApi::kOip ? "oip" : "ternserve";
}

void FillClassifyRequest(const v1::Pixels* image, float slo_ms, double min_accuracy,
                         absl::string_view request_id, v1::ClassifyRequest* request) {
  // Many requests read one Pixels at once; protobuf const access, serialization included, is
  // thread-safe.
  request->unsafe_arena_set_allocated_pixels(const_cast<v1::Pixels*>(image));
  request->set_latency_slo_ms(slo_ms);
  request->set_top_k(1);
  request->set_min_accuracy(min_accuracy);
  request->set_request_id(std::string(request_id));
}

void ReleaseClassifyImage(v1::ClassifyRequest* request) { request->unsafe_arena_release_pixels(); }

void SetClassifySlo(double slo_ms, v1::ClassifyRequest* request) {
  request->set_latency_slo_ms(slo_ms);
}

LoadgenAnswer ReadClassifyResponse(const v1::ClassifyResponse& response) {
  LoadgenAnswer answer;
  answer.request_id = response.request_id();
  answer.code = response.has_status() ? response.status().code() : 0;
  if (answer.code != 0) return answer;
  answer.class_id = response.top_k_size() > 0 ? response.top_k(0).class_id() : -1;
  answer.subnet_id = response.subnet().id();
  answer.expected_accuracy = static_cast<float>(response.subnet().expected_accuracy());
  answer.deadline_met = response.deadline_met();
  answer.queue_us = response.queue_us();
  answer.compute_us = response.compute_us();
  return answer;
}

std::string OipImageBytes(absl::Span<const float> pixels) {
  std::string bytes(pixels.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), pixels.data(), bytes.size());
  return bytes;
}

int64_t OipTimeoutUs(double slo_ms) { return std::max<int64_t>(1, std::llround(slo_ms * 1000)); }

void FillModelInferRequest(const std::string* image_bytes, float slo_ms, double min_accuracy,
                           const std::string& model_name, absl::string_view id,
                           ModelInferRequest* request) {
  request->set_model_name(model_name);
  request->set_id(std::string(id));
  (*request->mutable_parameters())["timeout"].set_int64_param(OipTimeoutUs(slo_ms));
  if (min_accuracy > 0) {
    (*request->mutable_parameters())["min_accuracy"].set_double_param(min_accuracy);
  }
  ModelInferRequest::InferInputTensor* input = request->add_inputs();
  input->set_name(kInputName);
  input->set_datatype("FP32");
  for (const int64_t d : kImageShape) input->add_shape(d);
  ModelInferRequest::InferRequestedOutputTensor* output = request->add_outputs();
  output->set_name(kOutputName);
  (*output->mutable_parameters())["classification"].set_int64_param(1);
  // Borrowed, as FillClassifyRequest borrows its Pixels.
  request->mutable_raw_input_contents()->UnsafeArenaAddAllocated(
      const_cast<std::string*>(image_bytes));
}

void SetModelInferSlo(double slo_ms, ModelInferRequest* request) {
  (*request->mutable_parameters())["timeout"].set_int64_param(OipTimeoutUs(slo_ms));
}

void ReleaseModelInferImage(ModelInferRequest* request) {
  if (request->raw_input_contents_size() > 0) {
    request->mutable_raw_input_contents()->UnsafeArenaReleaseLast();
  }
}

LoadgenAnswer ReadModelInferResponse(const ModelInferResponse& response) {
  LoadgenAnswer answer;
  answer.request_id = response.id();
  std::string& problem = answer.problem;
  const int32_t class_id = TopClass(response, &problem);
  const std::string* subnet =
      problem.empty() ? StringParameter(response, "subnet_id", &problem) : nullptr;
  const std::string* accuracy =
      problem.empty() ? StringParameter(response, "expected_accuracy", &problem) : nullptr;
  const std::string* met =
      problem.empty() ? StringParameter(response, "deadline_met", &problem) : nullptr;
  const std::string* queue =
      problem.empty() ? StringParameter(response, "queue_us", &problem) : nullptr;
  const std::string* compute =
      problem.empty() ? StringParameter(response, "compute_us", &problem) : nullptr;
  // One image per request: each parameter holds one value, not a comma list.
  if (problem.empty() && !absl::SimpleAtoi(*subnet, &answer.subnet_id)) {
    problem = absl::StrCat("parameter 'subnet_id' is '", *subnet, "', not one sub-net id");
  }
  if (problem.empty() && !absl::SimpleAtof(*accuracy, &answer.expected_accuracy)) {
    problem = absl::StrCat("parameter 'expected_accuracy' is '", *accuracy, "', not a number");
  }
  if (problem.empty() && *met != "true" && *met != "false") {
    problem = absl::StrCat("parameter 'deadline_met' is '", *met, "', not true or false");
  }
  if (problem.empty() && !absl::SimpleAtoi(*queue, &answer.queue_us)) {
    problem = absl::StrCat("parameter 'queue_us' is '", *queue, "', not one time in us");
  }
  if (problem.empty() && !absl::SimpleAtoi(*compute, &answer.compute_us)) {
    problem = absl::StrCat("parameter 'compute_us' is '", *compute, "', not one time in us");
  }
  if (!problem.empty()) {
    answer.code = kInternal;
    answer.subnet_id = -1;
    answer.expected_accuracy = 0;
    answer.queue_us = 0;
    answer.compute_us = 0;
    return answer;
  }
  answer.class_id = class_id;
  answer.deadline_met = *met == "true";
  return answer;
}

LoadgenAnswer ReadModelStreamInferResponse(const inference::ModelStreamInferResponse& response) {
  if (response.error_message().empty()) return ReadModelInferResponse(response.infer_response());
  LoadgenAnswer answer;
  const ModelInferResponse& failed = response.infer_response();
  answer.request_id = failed.id();
  // A failure without its code (or with code 0, which is no failure) is UNKNOWN, as gRPC names an
  // error it cannot classify.
  answer.code = kUnknown;
  const auto it = failed.parameters().find("code");
  if (it != failed.parameters().end() &&
      it->second.parameter_choice_case() == InferParameter::kInt64Param &&
      it->second.int64_param() > 0 && it->second.int64_param() <= 16) {
    answer.code = static_cast<int32_t>(it->second.int64_param());
  }
  return answer;
}

}  // namespace ternserve
