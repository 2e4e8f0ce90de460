// ClassifyRequest validation. See request_validation.h.
#include "server/request_validation.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/arch.h"
#include "server/image_decoder.h"

namespace ternserve {
namespace {

absl::Status ValidatePixels(const v1::Pixels& pixels) {
  if (pixels.values_size() != kImagePixels) {
    return absl::InvalidArgumentError(absl::StrCat("pixels has ", pixels.values_size(),
                                                   " values, expected ", kImagePixels,
                                                   " (1x28x28 row-major)"));
  }
  for (int i = 0; i < pixels.values_size(); ++i) {
    const float v = pixels.values(i);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat("pixel ", i, " is ", v, ", not finite"));
    }
    if (v < 0.0f || v > 1.0f) {
      return absl::InvalidArgumentError(
          absl::StrCat("pixel ", i, " is ", v, ", outside [0, 1] (send byte value / 255)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ValidateEncoded(const std::string& encoded,
                                                   const ValidationLimits& limits) {
  if (encoded.empty()) return absl::InvalidArgumentError("encoded image is empty");
  if (encoded.size() > limits.max_encoded_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("encoded image is ", encoded.size(),
                                                   " bytes, more than the limit of ",
                                                   limits.max_encoded_bytes, " bytes"));
  }
  absl::StatusOr<std::vector<float>> pixels = DecodeImage(encoded);
  if (!pixels.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot decode encoded image: ", pixels.status().message()));
  }
  return pixels;
}

absl::StatusOr<absl::Duration> ValidateSlo(double slo_ms, const ValidationLimits& limits) {
  if (!std::isfinite(slo_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("latency_slo_ms is ", slo_ms, ", not a finite number of milliseconds"));
  }
  if (slo_ms < 0) {
    return absl::InvalidArgumentError(absl::StrCat("latency_slo_ms is ", slo_ms,
                                                   ", must be >= 0 (0 = the server default of ",
                                                   limits.default_slo_ms, " ms)"));
  }
  if (slo_ms > limits.max_slo_ms) {
    return absl::InvalidArgumentError(absl::StrCat("latency_slo_ms is ", slo_ms,
                                                   ", more than the server's maximum of ",
                                                   limits.max_slo_ms, " ms (--max_slo_ms)"));
  }
  const double effective_ms = slo_ms == 0 ? limits.default_slo_ms : slo_ms;
  return absl::Microseconds(std::llround(effective_ms * 1000.0));
}

}  // namespace

absl::StatusOr<ValidatedRequest> ValidateClassifyRequest(const v1::ClassifyRequest& request,
                                                         const ValidationLimits& limits,
                                                         absl::Time arrival,
                                                         absl::Time grpc_deadline) {
  if (request.request_id().size() > limits.max_request_id_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("request_id is ", request.request_id().size(),
                                                   " bytes, at most ", limits.max_request_id_bytes,
                                                   " are allowed"));
  }
  if (request.top_k() < 0 || request.top_k() > limits.num_classes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "top_k is ", request.top_k(), ", must be in [0, ", limits.num_classes, "] (0 = 1)"));
  }
  absl::StatusOr<absl::Duration> slo = ValidateSlo(request.latency_slo_ms(), limits);
  if (!slo.ok()) return slo.status();
  if (absl::Status floor = ValidateMinAccuracy(request.min_accuracy(), "min_accuracy");
      !floor.ok()) {
    return floor;
  }

  ValidatedRequest validated;
  switch (request.image_case()) {
    case v1::ClassifyRequest::kPixels: {
      if (absl::Status valid = ValidatePixels(request.pixels()); !valid.ok()) return valid;
      validated.pixels = absl::MakeConstSpan(request.pixels().values().data(),
                                             static_cast<size_t>(request.pixels().values_size()));
      break;
    }
    case v1::ClassifyRequest::kEncoded: {
      absl::StatusOr<std::vector<float>> pixels = ValidateEncoded(request.encoded(), limits);
      if (!pixels.ok()) return pixels.status();
      validated.decoded = *std::move(pixels);
      validated.pixels = validated.decoded;
      break;
    }
    case v1::ClassifyRequest::IMAGE_NOT_SET:
      return absl::InvalidArgumentError("request has no image: set pixels or encoded");
  }

  // Checked last so that a malformed request is reported as such even when it also arrives late.
  if (absl::Status in_time = CheckArrivedInTime(arrival, grpc_deadline); !in_time.ok()) {
    return in_time;
  }
  validated.slo = *slo;
  validated.deadline = RequestDeadline(arrival, *slo, grpc_deadline, limits);
  validated.top_k = request.top_k() == 0 ? 1 : request.top_k();
  validated.min_accuracy = request.min_accuracy();
  return validated;
}

absl::Status ValidateMinAccuracy(double min_accuracy, absl::string_view field) {
  if (std::isfinite(min_accuracy) && min_accuracy >= 0 && min_accuracy <= 1) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is ", min_accuracy,
                   ", must be an expected accuracy in [0, 1] (0 = any sub-net; 0.9 = 90%)"));
}

absl::Status CheckArrivedInTime(absl::Time arrival, absl::Time grpc_deadline) {
  if (grpc_deadline > arrival) return absl::OkStatus();
  return absl::DeadlineExceededError(
      "the client's gRPC deadline had passed when the request arrived");
}

absl::Time RequestDeadline(absl::Time arrival, absl::Duration slo, absl::Time grpc_deadline,
                           const ValidationLimits& limits) {
  // With a reserve as large as the SLO the deadline is at or before the arrival: the policy finds
  // the request hopeless and answers it as late (--late), like any request that cannot make it.
  return std::min(arrival + slo, grpc_deadline) -
         absl::Microseconds(std::llround(1000 * limits.slo_reserve_ms));
}

std::string EchoedRequestId(const v1::ClassifyRequest& request, const ValidationLimits& limits) {
  return request.request_id().substr(0, limits.max_request_id_bytes);
}

}  // namespace ternserve
