#include "models/quantizer.h"

#include "absl/strings/str_cat.h"

namespace ternserve {

absl::StatusOr<QuantizerKind> ParseQuantizer(const std::string& name) {
  if (name == "none") return QuantizerKind::kNone;
  if (name == "twn") return QuantizerKind::kTwn;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown quantizer \"", name, "\" (valid: twn, none)"));
}

const char* QuantizerName(QuantizerKind kind) {
  return kind == QuantizerKind::kTwn ? "twn" : "none";
}

TernaryWeight TwnTernarize(const torch::Tensor& weight) {
  torch::NoGradGuard no_grad;
  const torch::Tensor w = weight.reshape({weight.size(0), -1});
  const torch::Tensor magnitude = w.abs();
  const torch::Tensor delta = 0.7 * magnitude.mean(1, /*keepdim=*/true);
  const torch::Tensor kept = (magnitude > delta).to(w.scalar_type());
  const torch::Tensor scale = (magnitude * kept).sum(1) / kept.sum(1).clamp_min(1.0);
  const torch::Tensor codes = (w.sign() * kept).to(torch::kInt8);
  return {codes.reshape(weight.sizes()), scale};
}

torch::Tensor FakeQuantize(const torch::Tensor& weight, QuantizerKind kind) {
  if (kind == QuantizerKind::kNone) return weight;
  const TernaryWeight q = TwnTernarize(weight);
  std::vector<int64_t> scale_shape(weight.dim(), 1);
  scale_shape[0] = weight.size(0);
  const torch::Tensor quantized = q.codes.to(weight.scalar_type()) * q.scale.reshape(scale_shape);
  // Straight-through estimator: forward exactly the ternary weight (w - w.detach() is exactly 0),
  // pass the gradient to the latent weight unchanged.
  return quantized + (weight - weight.detach());
}

}  // namespace ternserve
