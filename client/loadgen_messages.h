// The messages of the load generator's two APIs (--api): the request it sends for one planned image
// and SLO, and what it keeps of an answer (LoadgenAnswer), the same for both.
//
//   - ternserve: ternserve.v1.Classifier (Classify, ClassifyStream).
//   - oip: the Open Inference Protocol (inference.GRPCInferenceService, docs/oip.md): one FP32
//     [1,1,28,28] image in raw_input_contents, the SLO as the int64 request parameter `timeout`
//     (µs), the output `probabilities` asked as the classification extension (top 1). The answer's
//     sub-net, claimed accuracy and deadline verdict come from its string parameters; it carries no
//     queue or compute time.
//
// The Fill functions borrow the image (no copy on the hot path): the request must give it back
// (Release) before it is destroyed, and the image must outlive it. Pure functions; thread-safe.
#ifndef TERNSERVE_CLIENT_LOADGEN_MESSAGES_H_
#define TERNSERVE_CLIENT_LOADGEN_MESSAGES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "inference/grpc_service.pb.h"
#include "ternserve/v1/classifier.pb.h"

namespace ternserve {

enum class LoadgenApi {
  kTernserve,  // ternserve.v1.Classifier
  kOip,        // inference.GRPCInferenceService
};
// "ternserve" or "oip"; INVALID_ARGUMENT otherwise.
absl::StatusOr<LoadgenApi> ParseLoadgenApi(absl::string_view name);
absl::string_view LoadgenApiName(LoadgenApi api);

// What the load generator keeps of one answer, whichever API carried it.
struct LoadgenAnswer {
  // google.rpc.Code of this request: the call's status, or a stream message's own. INTERNAL when
  // an answer that came back OK could not be read (`problem` says why).
  int32_t code = 0;
  // Which request a stream message answers (its request_id or id); points into the response.
  absl::string_view request_id;
  // The rest only when code is 0.
  int32_t class_id = -1;  // top-1; -1 if the answer named none
  int32_t subnet_id = -1;
  float expected_accuracy = 0;
  bool deadline_met = false;
  int64_t queue_us = 0;  // the server's: arrival to batch start, and the batch's compute
  int64_t compute_us = 0;
  std::string problem;
  // Stream mode: the client answered it DEADLINE_EXCEEDED itself, because its SLO ran out while it
  // waited to be written (the server never saw it).
  bool expired_in_client = false;
  // The server that answered, as gRPC names the call's peer ("ipv4:127.0.0.1:8001"); empty when
  // the call reached none.
  std::string peer;
};

// ternserve.v1: top_k 1, the SLO and the accuracy floor (0: none); `image` borrowed.
void FillClassifyRequest(const v1::Pixels* image, float slo_ms, double min_accuracy,
                         absl::string_view request_id, v1::ClassifyRequest* request);
void ReleaseClassifyImage(v1::ClassifyRequest* request);
// Sets the SLO of a filled request to `slo_ms` (> 0): what is left of it when it is written.
void SetClassifySlo(double slo_ms, v1::ClassifyRequest* request);
// A Classify answer (status OK) or a ClassifyStream message (with its own status).
LoadgenAnswer ReadClassifyResponse(const v1::ClassifyResponse& response);

// One image's 784 pixels as raw FP32 (little-endian) input bytes.
std::string OipImageBytes(absl::Span<const float> pixels);
// The OIP request for one image (`image_bytes`, borrowed) with `slo_ms` as its `timeout` and,
// when above 0, `min_accuracy` as its double parameter of that name.
void FillModelInferRequest(const std::string* image_bytes, float slo_ms, double min_accuracy,
                           const std::string& model_name, absl::string_view id,
                           inference::ModelInferRequest* request);
void ReleaseModelInferImage(inference::ModelInferRequest* request);
// Sets the `timeout` of a filled request to `slo_ms` (> 0), as SetClassifySlo does.
void SetModelInferSlo(double slo_ms, inference::ModelInferRequest* request);
// The SLO as the `timeout` parameter: whole microseconds, at least 1 (0 would mean the server's
// default).
int64_t OipTimeoutUs(double slo_ms);
// A ModelInfer answer (status OK): the top class of its classification output, the parameters
// subnet_id, expected_accuracy and deadline_met.
LoadgenAnswer ReadModelInferResponse(const inference::ModelInferResponse& response);
// A ModelStreamInfer message: a failed request's error_message is set and its infer_response
// carries the request's id and the int64 parameter `code`.
LoadgenAnswer ReadModelStreamInferResponse(const inference::ModelStreamInferResponse& response);

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_LOADGEN_MESSAGES_H_
