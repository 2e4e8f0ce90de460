// ModelInfer requests and responses. See oip_request.h.
#include "server/oip_request.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "models/arch.h"
#include "server/classify_response.h"
#include "server/client_text.h"

namespace ternserve {
namespace {

using inference::InferParameter;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

constexpr char kFp32[] = "FP32";
constexpr char kUint8[] = "UINT8";

absl::Status InputError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("input '", kOipInputName, "': ", what));
}

// The shape as written in messages; a client may send thousands of dimensions, so only the first
// few are (see server/client_text.h).
std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& shape) {
  constexpr int kShown = 8;
  if (shape.size() <= kShown) return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
  return absl::StrCat("[", absl::StrJoin(shape.begin(), shape.begin() + kShown, ","), ",...] (",
                      shape.size(), " dimensions)");
}

// An integer parameter (int64 or uint64, as clients send either), or why it is not one.
absl::StatusOr<int64_t> IntParameter(absl::string_view name, const InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case InferParameter::kInt64Param:
      return p.int64_param();
    case InferParameter::kUint64Param:
      if (p.uint64_param() > static_cast<uint64_t>(INT64_MAX)) break;
      return static_cast<int64_t>(p.uint64_param());
    default:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("parameter '", name, "' must be an int64 (int64_param)"));
}

// The request's SLO from the "timeout" parameter (microseconds; 0 = the server default).
absl::StatusOr<absl::Duration> TimeoutSlo(const InferParameter& p, const ValidationLimits& limits) {
  absl::StatusOr<int64_t> us = IntParameter("timeout", p);
  if (!us.ok()) return us.status();
  if (*us < 0) {
    return absl::InvalidArgumentError(absl::StrCat("parameter 'timeout' is ", *us,
                                                   " us, must be >= 0 (0 = the server default of ",
                                                   limits.default_slo_ms, " ms)"));
  }
  if (static_cast<double>(*us) > limits.max_slo_ms * 1000.0) {
    return absl::InvalidArgumentError(absl::StrCat("parameter 'timeout' is ", *us,
                                                   " us, more than the server's maximum of ",
                                                   limits.max_slo_ms, " ms (--max_slo_ms)"));
  }
  if (*us == 0) return absl::Microseconds(std::llround(limits.default_slo_ms * 1000.0));
  return absl::Microseconds(*us);
}

// The images of a valid shape ([N,1,28,28], [N,28,28] or [N,784]), or why it is not one.
absl::StatusOr<int> ImagesOfShape(const google::protobuf::RepeatedField<int64_t>& shape,
                                  const OipModel& model) {
  const bool chw =
      shape.size() == 4 && shape[1] == 1 && shape[2] == kImageSide && shape[3] == kImageSide;
  const bool hw = shape.size() == 3 && shape[1] == kImageSide && shape[2] == kImageSide;
  const bool flat = shape.size() == 2 && shape[1] == kImagePixels;
  if (!chw && !hw && !flat) {
    return InputError(
        absl::StrCat("shape ", ShapeString(shape), " is not [N,1,28,28], [N,28,28] or [N,784]"));
  }
  if (shape[0] < 1) {
    return InputError(absl::StrCat("shape ", ShapeString(shape), " has ", shape[0],
                                   " images; the batch dimension must be at least 1"));
  }
  if (shape[0] > model.max_images) {
    return InputError(absl::StrCat("batch of ", shape[0], " images is more than max_batch_size ",
                                   model.max_images, " (--max_images_per_request)"));
  }
  return static_cast<int>(shape[0]);
}

// Maps one FP32 pixel of `scale` onto [0, 1], or says why it is out of range.
absl::StatusOr<float> ScalePixel(float v, size_t index, InputScale scale) {
  float lo = 0, hi = 1;
  if (scale == InputScale::kByte) hi = 255;
  if (scale == InputScale::kInception) lo = -1;
  if (!std::isfinite(v) || v < lo || v > hi) {
    return InputError(
        absl::StrFormat("value %g at element %d is outside [%g, %g], the range of input_scale=%s",
                        v, index, lo, hi, InputScaleName(scale)));
  }
  switch (scale) {
    case InputScale::kUnit:
      return v;
    case InputScale::kByte:
      return v / 255.0f;
    case InputScale::kInception:
      return std::clamp((v + 1.0f) * 0.5f, 0.0f, 1.0f);
  }
  return v;
}

// Values in all of `c`'s typed fields together.
int ContentsCount(const inference::InferTensorContents& c) {
  return c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() +
         c.uint_contents_size() + c.uint64_contents_size() + c.fp32_contents_size() +
         c.fp64_contents_size() + c.bytes_contents_size();
}

// OK when `c` holds exactly `wanted` values, all in the field of `datatype` (`field`, of
// `in_field` values).
absl::Status CheckContentsAre(const inference::InferTensorContents& c, absl::string_view datatype,
                              absl::string_view field, int in_field, int wanted) {
  const int filled = ContentsCount(c);
  if (filled == wanted && in_field == wanted) return absl::OkStatus();
  return InputError(absl::StrCat(datatype, " contents must be in contents.", field, " only, ",
                                 wanted, " values for the shape; the request has ", filled,
                                 " values in contents, ", in_field, " of them in ", field));
}

// The pixels of `input`, from the raw bytes (`raw`, may be null) or its typed contents.
absl::Status ReadPixels(const ModelInferRequest::InferInputTensor& input, const std::string* raw,
                        int images, InputScale scale, std::vector<float>* pixels) {
  const size_t n = static_cast<size_t>(images) * kImagePixels;
  const bool fp32 = input.datatype() == kFp32;
  pixels->resize(n);
  if (raw != nullptr) {
    const size_t want = n * (fp32 ? sizeof(float) : 1);
    if (raw->size() != want) {
      return InputError(absl::StrCat("raw_input_contents holds ", raw->size(), " bytes; shape ",
                                     ShapeString(input.shape()), " of ", input.datatype(),
                                     " needs ", want));
    }
  } else {
    const inference::InferTensorContents& c = input.contents();
    absl::Status typed = fp32 ? CheckContentsAre(c, kFp32, "fp32_contents", c.fp32_contents_size(),
                                                 static_cast<int>(n))
                              : CheckContentsAre(c, kUint8, "uint_contents", c.uint_contents_size(),
                                                 static_cast<int>(n));
    if (!typed.ok()) return typed;
  }
  for (size_t i = 0; i < n; ++i) {
    if (fp32) {
      float v;
      if (raw != nullptr) {
        std::memcpy(&v, raw->data() + i * sizeof(float), sizeof(float));  // little-endian host
      } else {
        v = input.contents().fp32_contents(static_cast<int>(i));
      }
      absl::StatusOr<float> scaled = ScalePixel(v, i, scale);
      if (!scaled.ok()) return scaled.status();
      (*pixels)[i] = *scaled;
    } else {
      const uint32_t b = raw != nullptr ? static_cast<uint8_t>((*raw)[i])
                                        : input.contents().uint_contents(static_cast<int>(i));
      if (b > 255) {
        return InputError(absl::StrCat("UINT8 value ", b, " at element ", i, " is above 255"));
      }
      (*pixels)[i] = static_cast<float>(b) / 255.0f;
    }
  }
  return absl::OkStatus();
}

// The outputs to return: 0 for the probabilities, k for the top-k classification.
absl::StatusOr<std::vector<int>> RequestedOutputs(const ModelInferRequest& request,
                                                  int num_classes) {
  if (request.outputs_size() > kOipMaxOutputs) {
    return absl::InvalidArgumentError(absl::StrCat("the request asks for ", request.outputs_size(),
                                                   " outputs; at most ", kOipMaxOutputs,
                                                   " may be requested"));
  }
  std::vector<int> outputs;
  for (const auto& output : request.outputs()) {
    if (output.name() != kOipOutputName) {
      return absl::InvalidArgumentError(absl::StrCat("unknown output '", ClientText(output.name()),
                                                     "'; the model's output is '", kOipOutputName,
                                                     "'"));
    }
    int k = 0;
    for (const auto& [name, value] : output.parameters()) {
      if (name != "classification") {
        return absl::InvalidArgumentError(absl::StrCat("output '", output.name(),
                                                       "': unknown parameter '", ClientText(name),
                                                       "' (the one known is 'classification')"));
      }
      absl::StatusOr<int64_t> count = IntParameter("classification", value);
      if (!count.ok()) return count.status();
      if (*count < 1 || *count > num_classes) {
        return absl::InvalidArgumentError(absl::StrCat("output '", output.name(),
                                                       "': classification count ", *count,
                                                       " is not in [1, ", num_classes, "]"));
      }
      k = static_cast<int>(*count);
    }
    outputs.push_back(k);
  }
  if (outputs.empty()) outputs.push_back(0);
  return outputs;
}

// Appends one BYTES element (4-byte little-endian length, then the bytes), as the raw form of a
// BYTES tensor is laid out.
void AppendBytesElement(absl::string_view element, std::string* raw) {
  const uint32_t n = static_cast<uint32_t>(element.size());
  char len[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                 static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
  raw->append(len, 4);
  raw->append(element.data(), element.size());
}

void SetStringParameter(absl::string_view name, std::string value, ModelInferResponse* response) {
  (*response->mutable_parameters())[std::string(name)].set_string_param(std::move(value));
}

}  // namespace

absl::StatusOr<InputScale> ParseInputScale(absl::string_view name) {
  if (name == "unit") return InputScale::kUnit;
  if (name == "byte") return InputScale::kByte;
  if (name == "inception") return InputScale::kInception;
  return absl::InvalidArgumentError(
      absl::StrCat("input_scale '", ClientText(name),
                   "' is not unit ([0,1]), byte ([0,255]) or inception ([-1,1])"));
}

absl::string_view InputScaleName(InputScale scale) {
  switch (scale) {
    case InputScale::kUnit:
      return "unit";
    case InputScale::kByte:
      return "byte";
    case InputScale::kInception:
      return "inception";
  }
  return "unit";
}

absl::Status CheckModel(const OipModel& model, absl::string_view name, absl::string_view version) {
  if (name != model.name) {
    return absl::NotFoundError(absl::StrCat("unknown model '", ClientText(name),
                                            "'; this server serves '", model.name, "'"));
  }
  if (!version.empty() && version != kOipModelVersion) {
    return absl::NotFoundError(absl::StrCat("model '", name, "' has no version '",
                                            ClientText(version), "'; its one version is '",
                                            kOipModelVersion, "' (or empty)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<OipInferRequest> ParseModelInferRequest(const ModelInferRequest& request,
                                                       const OipModel& model,
                                                       const ValidationLimits& limits,
                                                       absl::Time arrival,
                                                       absl::Time grpc_deadline) {
  if (absl::Status s = CheckModel(model, request.model_name(), request.model_version()); !s.ok()) {
    return s;
  }
  if (request.id().size() > limits.max_request_id_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("id is ", request.id().size(),
                                                   " bytes, at most ", limits.max_request_id_bytes,
                                                   " are allowed"));
  }
  OipInferRequest parsed;
  parsed.slo = absl::Microseconds(std::llround(limits.default_slo_ms * 1000.0));
  InputScale scale = model.default_scale;
  for (const auto& [name, value] : request.parameters()) {
    if (name == "timeout") {
      absl::StatusOr<absl::Duration> slo = TimeoutSlo(value, limits);
      if (!slo.ok()) return slo.status();
      parsed.slo = *slo;
    } else if (name == "min_accuracy") {
      if (value.parameter_choice_case() != InferParameter::kDoubleParam) {
        return absl::InvalidArgumentError(
            "parameter 'min_accuracy' must be a double_param (an expected accuracy in [0, 1])");
      }
      if (absl::Status s = ValidateMinAccuracy(value.double_param(), "parameter 'min_accuracy'");
          !s.ok()) {
        return s;
      }
      parsed.min_accuracy = value.double_param();
    } else if (name == "priority") {
      // Accepted and not used: the scheduler orders by deadline (docs/oip.md).
      if (absl::StatusOr<int64_t> p = IntParameter(name, value); !p.ok()) return p.status();
    } else if (name == "input_scale") {
      if (value.parameter_choice_case() != InferParameter::kStringParam) {
        return absl::InvalidArgumentError("parameter 'input_scale' must be a string_param");
      }
      absl::StatusOr<InputScale> s = ParseInputScale(value.string_param());
      if (!s.ok())
        return absl::InvalidArgumentError(absl::StrCat("parameter ", s.status().message()));
      scale = *s;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown request parameter '", ClientText(name),
                       "' (known: timeout, min_accuracy, priority, input_scale)"));
    }
  }

  if (request.inputs_size() != 1 || request.inputs(0).name() != kOipInputName) {
    constexpr int kShown = 4;  // a client may send thousands (see server/client_text.h)
    std::vector<std::string> names;
    for (int i = 0; i < request.inputs_size() && i < kShown; ++i) {
      names.push_back(absl::StrCat("'", ClientText(request.inputs(i).name()), "'"));
    }
    if (request.inputs_size() > kShown) {
      names.push_back(absl::StrCat("... (", request.inputs_size(), " inputs)"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model.name, "' has one input, '", kOipInputName,
                     "'; the request has ", names.empty() ? "none" : absl::StrJoin(names, ", ")));
  }
  const ModelInferRequest::InferInputTensor& input = request.inputs(0);
  if (input.datatype() != kFp32 && input.datatype() != kUint8) {
    return InputError(
        absl::StrCat("datatype ", ClientText(input.datatype()), " is not FP32 or UINT8"));
  }
  absl::StatusOr<int> images = ImagesOfShape(input.shape(), model);
  if (!images.ok()) return images.status();
  if (request.raw_input_contents_size() > 1) {
    return InputError(absl::StrCat("raw_input_contents has ", request.raw_input_contents_size(),
                                   " entries for 1 input"));
  }
  const bool raw = request.raw_input_contents_size() == 1;
  const bool typed = ContentsCount(input.contents()) > 0;
  if (raw && typed) {
    return InputError("data is in both contents and raw_input_contents; send it in one");
  }
  if (!raw && !typed) {
    return InputError("no data: send it in raw_input_contents or in contents");
  }
  parsed.images = *images;
  if (absl::Status s = ReadPixels(input, raw ? &request.raw_input_contents(0) : nullptr,
                                  parsed.images, scale, &parsed.pixels);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::vector<int>> outputs =
      RequestedOutputs(request, static_cast<int>(model.labels.size()));
  if (!outputs.ok()) return outputs.status();
  parsed.outputs = *std::move(outputs);

  // Checked last so that a malformed request is reported as such even when it also arrives late.
  if (absl::Status in_time = CheckArrivedInTime(arrival, grpc_deadline); !in_time.ok()) {
    return in_time;
  }
  parsed.deadline = RequestDeadline(arrival, parsed.slo, grpc_deadline, limits);
  return parsed;
}

absl::Status FirstFailure(const std::vector<ImageResult>& results) {
  for (const ImageResult& image : results) {
    if (!image.outcome.status.ok()) return image.outcome.status;
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelInferResponse> BuildModelInferResponse(const ModelInferRequest& request,
                                                           const OipInferRequest& parsed,
                                                           const std::vector<ImageResult>& results,
                                                           const OipModel& model,
                                                           const BundleMetadata& metadata) {
  const size_t classes = model.labels.size();
  std::vector<std::vector<float>> probabilities;
  for (const ImageResult& image : results) {
    if (image.logits.size() != classes) {
      return absl::InternalError(absl::StrCat("the engine returned ", image.logits.size(),
                                              " logits for ", classes, " classes"));
    }
    probabilities.push_back(Softmax(image.logits));
  }
  ModelInferResponse response;
  response.set_model_name(model.name);
  response.set_model_version(kOipModelVersion);
  response.set_id(request.id());
  const int64_t n = static_cast<int64_t>(results.size());
  for (int k : parsed.outputs) {
    ModelInferResponse::InferOutputTensor* out = response.add_outputs();
    out->set_name(kOipOutputName);
    out->add_shape(n);
    std::string* raw = response.add_raw_output_contents();
    if (k == 0) {
      out->set_datatype(kFp32);
      out->add_shape(static_cast<int64_t>(classes));
      raw->reserve(results.size() * classes * sizeof(float));
      for (const std::vector<float>& p : probabilities) {
        raw->append(reinterpret_cast<const char*>(p.data()), p.size() * sizeof(float));
      }
      continue;
    }
    out->set_datatype("BYTES");
    out->add_shape(k);
    for (const std::vector<float>& p : probabilities) {
      for (const auto& [index, score] : TopK(p, k)) {
        AppendBytesElement(absl::StrFormat("%f:%d:%s", score, index, model.labels[index]), raw);
      }
    }
  }
  std::vector<std::string> subnets, accuracies, met, queue_us, compute_us;
  for (const ImageResult& image : results) {
    const TaskOutcome& outcome = image.outcome;
    subnets.push_back(absl::StrCat(outcome.subnet_id));
    double accuracy = 0;
    const BundleMetadata& ran_on = image.model != nullptr ? *image.model : metadata;
    for (const SubnetMeta& subnet : ran_on.subnets) {
      if (subnet.id == outcome.subnet_id) accuracy = subnet.test_accuracy;
    }
    accuracies.push_back(absl::StrFormat("%.4f", accuracy));
    met.push_back(outcome.deadline_met ? "true" : "false");
    queue_us.push_back(absl::StrCat(absl::ToInt64Microseconds(outcome.queue_time)));
    compute_us.push_back(absl::StrCat(absl::ToInt64Microseconds(outcome.compute_time)));
  }
  SetStringParameter("subnet_id", absl::StrJoin(subnets, ","), &response);
  SetStringParameter("expected_accuracy", absl::StrJoin(accuracies, ","), &response);
  SetStringParameter("deadline_met", absl::StrJoin(met, ","), &response);
  SetStringParameter("queue_us", absl::StrJoin(queue_us, ","), &response);
  SetStringParameter("compute_us", absl::StrJoin(compute_us, ","), &response);
  return response;
}

}  // namespace ternserve
