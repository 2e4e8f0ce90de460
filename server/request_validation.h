// Validation of a ClassifyRequest against the server's limits, before anything is queued: every
// rule of docs/architecture.md "Errors and bad input" for our API, with a precise status and
// message. Also turns the SLO and the gRPC deadline into the request's deadline.
//
// Pure functions of their inputs (time is passed in); thread-safe.
#ifndef TERNSERVE_SERVER_REQUEST_VALIDATION_H_
#define TERNSERVE_SERVER_REQUEST_VALIDATION_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "ternserve/v1/classifier.pb.h"

namespace ternserve {

struct ValidationLimits {
  // SLO applied when a request's latency_slo_ms is 0 (--default_slo_ms).
  double default_slo_ms = 100;
  // Largest SLO a request may ask for (--max_slo_ms); larger is refused, not clamped.
  double max_slo_ms = 60000;
  // Part of every SLO and gRPC deadline kept for the way to and from the client
  // (--slo_reserve_ms): the deadline the server schedules for is that much earlier. >= 0.
  double slo_reserve_ms = 0;
  // top_k may be 0..num_classes.
  int num_classes = 10;
  // Largest encoded (PNG/PGM) image accepted.
  size_t max_encoded_bytes = size_t{1} << 20;
  size_t max_request_id_bytes = 128;
};

// Move-only: `pixels` may point into `decoded`, whose buffer a move keeps.
struct ValidatedRequest {
  ValidatedRequest() = default;
  ValidatedRequest(ValidatedRequest&&) = default;
  ValidatedRequest& operator=(ValidatedRequest&&) = default;

  // 784 values in [0, 1]: the request's own pixels (checked in place, not copied; valid as long as
  // the request is), or `decoded`.
  absl::Span<const float> pixels;
  std::vector<float> decoded;  // the decoded image of an encoded request, else empty
  absl::Duration slo;          // the request's SLO, default applied
  absl::Time deadline;         // min(arrival + slo, gRPC deadline) - limits.slo_reserve_ms
  int top_k = 1;               // 1..num_classes
  double min_accuracy = 0;     // the accuracy floor, in [0, 1]; 0: none
};

// The accuracy floor of a request (`field` names it in the message): INVALID_ARGUMENT unless a
// finite number in [0, 1]. Whether a sub-net meets it is the dispatcher's to say.
absl::Status ValidateMinAccuracy(double min_accuracy, absl::string_view field);

// `arrival` is when the server received the request; `grpc_deadline` the client's deadline
// (absl::InfiniteFuture() when it set none). INVALID_ARGUMENT for a malformed request,
// DEADLINE_EXCEEDED when the gRPC deadline has already passed at arrival.
absl::StatusOr<ValidatedRequest> ValidateClassifyRequest(const v1::ClassifyRequest& request,
                                                         const ValidationLimits& limits,
                                                         absl::Time arrival,
                                                         absl::Time grpc_deadline);

// DEADLINE_EXCEEDED when the client's gRPC deadline had passed at `arrival`.
absl::Status CheckArrivedInTime(absl::Time arrival, absl::Time grpc_deadline);

// The deadline the server schedules a request for: min(arrival + slo, grpc_deadline) less
// limits.slo_reserve_ms.
absl::Time RequestDeadline(absl::Time arrival, absl::Duration slo, absl::Time grpc_deadline,
                           const ValidationLimits& limits);

// The request_id to echo back: at most limits.max_request_id_bytes (a too-long id is cut, so that
// error responses still carry a recognizable id).
std::string EchoedRequestId(const v1::ClassifyRequest& request, const ValidationLimits& limits);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_REQUEST_VALIDATION_H_
