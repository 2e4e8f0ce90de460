// Completion -> ClassifyResponse. See classify_response.h.
#include "server/classify_response.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace ternserve {

std::vector<float> Softmax(absl::Span<const float> logits) {
  std::vector<float> probabilities(logits.size());
  if (logits.empty()) return probabilities;
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double e = std::exp(static_cast<double>(logits[i]) - max_logit);
    probabilities[i] = static_cast<float>(e);
    sum += e;
  }
  for (float& p : probabilities) p = static_cast<float>(p / sum);
  return probabilities;
}

std::vector<std::pair<int, float>> TopK(absl::Span<const float> probabilities, int k) {
  std::vector<int> order(probabilities.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t n = static_cast<size_t>(std::clamp<int>(k, 0, static_cast<int>(order.size())));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(),
                    [&](int a, int b) {
                      if (probabilities[a] != probabilities[b]) {
                        return probabilities[a] > probabilities[b];
                      }
                      return a < b;
                    });
  std::vector<std::pair<int, float>> top;
  top.reserve(n);
  for (size_t i = 0; i < n; ++i) top.emplace_back(order[i], probabilities[order[i]]);
  return top;
}

absl::Status FillClassifyResponse(const ImageResult& result, int top_k,
                                  const BundleMetadata& metadata, v1::ClassifyResponse* response) {
  const size_t num_classes = metadata.labels.size();
  const TaskOutcome& completion = result.outcome;
  if (result.logits.size() != num_classes) {
    return absl::InternalError(absl::StrCat("engine returned ", result.logits.size(),
                                            " logits, the bundle has ", num_classes, " classes"));
  }
  const std::vector<float> probabilities = Softmax(result.logits);
  for (const auto& [class_id, probability] : TopK(probabilities, top_k)) {
    v1::Prediction* prediction = response->add_top_k();
    prediction->set_class_id(class_id);
    prediction->set_label(metadata.labels[static_cast<size_t>(class_id)]);
    prediction->set_probability(probability);
  }
  v1::SubnetRef* subnet = response->mutable_subnet();
  subnet->set_id(completion.subnet_id);
  for (const SubnetMeta& meta : metadata.subnets) {
    if (meta.id == completion.subnet_id) {
      subnet->set_name(meta.name);
      subnet->set_expected_accuracy(meta.test_accuracy);
    }
  }
  response->set_queue_us(absl::ToInt64Microseconds(completion.queue_time));
  response->set_compute_us(absl::ToInt64Microseconds(completion.compute_time));
  response->set_batch_size(completion.batch_size);
  response->set_deadline_met(completion.deadline_met);
  return absl::OkStatus();
}

}  // namespace ternserve
