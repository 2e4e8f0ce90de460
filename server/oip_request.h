// The Open Inference Protocol's ModelInfer request, checked and turned into pixels, and its answer
// built from the images' results: every rule of docs/oip.md "ModelInfer" and "Errors", each with a
// precise status and a message naming the input, output or parameter at fault.
//
// Pure functions of their inputs (time is passed in); thread-safe.
#ifndef TERNSERVE_SERVER_OIP_REQUEST_H_
#define TERNSERVE_SERVER_OIP_REQUEST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "inference/grpc_service.pb.h"
#include "models/bundle.h"
#include "server/classify_task.h"
#include "server/request_validation.h"

namespace ternserve {

inline constexpr char kOipInputName[] = "input";
inline constexpr char kOipOutputName[] = "probabilities";
inline constexpr char kOipModelVersion[] = "1";
// Most outputs one request may name. `probabilities` may be named more than once (docs/oip.md),
// and each costs the response up to max_images x 10 results: unbounded, a 4 MiB request of
// 150,000 outputs made a 6 MB response.
inline constexpr int kOipMaxOutputs = 16;

// How FP32 pixels are scaled (--input_scale, or the request parameter "input_scale").
enum class InputScale {
  kUnit,       // [0, 1]: byte / 255
  kByte,       // [0, 255]: image_client.py's default (-s NONE)
  kInception,  // [-1, 1]: image_client.py -s INCEPTION
};
absl::StatusOr<InputScale> ParseInputScale(absl::string_view name);
absl::string_view InputScaleName(InputScale scale);

// What the server's OIP says about its one model.
struct OipModel {
  std::string name;                 // the bundle's model name, or --model_name
  std::vector<std::string> labels;  // class names, by class index
  int max_images = 64;              // per request (--max_images_per_request): max_batch_size
  InputScale default_scale = InputScale::kUnit;
};

// NOT_FOUND unless `name` is the model and `version` is "" or "1".
absl::Status CheckModel(const OipModel& model, absl::string_view name, absl::string_view version);

struct OipInferRequest {
  int images = 0;
  std::vector<float> pixels;  // images x 784 values in [0, 1], row-major
  // Per output to return, in request order: 0 = the probabilities (FP32 [N,10]); k > 0 = the
  // classification extension, top k (BYTES [N,k]). A request naming no output gets {0}.
  std::vector<int> outputs;
  absl::Duration slo;
  absl::Time deadline;      // RequestDeadline(arrival, slo, grpc deadline)
  double min_accuracy = 0;  // the "min_accuracy" parameter: the accuracy floor; 0: none
};

// `arrival` is when the server received the request; `grpc_deadline` the client's deadline
// (absl::InfiniteFuture() when it set none). NOT_FOUND for another model or version,
// INVALID_ARGUMENT for a malformed request, DEADLINE_EXCEEDED when the gRPC deadline had passed.
absl::StatusOr<OipInferRequest> ParseModelInferRequest(const inference::ModelInferRequest& request,
                                                       const OipModel& model,
                                                       const ValidationLimits& limits,
                                                       absl::Time arrival,
                                                       absl::Time grpc_deadline);

// The response to `request` (model name, version, id) from its images' results, every one OK:
// the outputs in raw_output_contents, the per-image parameters (each image's expected accuracy
// from the bundle that computed it, ImageResult::model, else from `metadata`). INTERNAL if the
// logits do not match the model's classes.
absl::StatusOr<inference::ModelInferResponse> BuildModelInferResponse(
    const inference::ModelInferRequest& request, const OipInferRequest& parsed,
    const std::vector<ImageResult>& results, const OipModel& model, const BundleMetadata& metadata);

// The first failed image's status, or OK when every image succeeded.
absl::Status FirstFailure(const std::vector<ImageResult>& results);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_OIP_REQUEST_H_
