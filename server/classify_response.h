// Turns one image's result (logits and timings) into a ClassifyResponse: softmax, top-k
// with label names, the sub-net used and its expected accuracy, queue/compute time and batch size.
// Pure functions; thread-safe.
#ifndef TERNSERVE_SERVER_CLASSIFY_RESPONSE_H_
#define TERNSERVE_SERVER_CLASSIFY_RESPONSE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "models/bundle.h"
#include "server/classify_task.h"
#include "ternserve/v1/classifier.pb.h"

namespace ternserve {

// Numerically stable softmax (the max logit is subtracted first).
std::vector<float> Softmax(absl::Span<const float> logits);

// The k most probable classes as (class id, probability), by probability descending, ties by lower
// class id. k is clamped to [0, probabilities.size()].
std::vector<std::pair<int, float>> TopK(absl::Span<const float> probabilities, int k);

// Fills `response` from a successful image result. INTERNAL if the logits do not match the
// bundle's classes. Does not set request_id or status.
absl::Status FillClassifyResponse(const ImageResult& result, int top_k,
                                  const BundleMetadata& metadata, v1::ClassifyResponse* response);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_CLASSIFY_RESPONSE_H_
