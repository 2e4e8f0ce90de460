// Ternary weight quantizers for training (LibTorch). A quantizer maps a latent fp32 weight [out,
// ...] to its ternary form alpha_c * t, t in {-1, 0, +1}, with one scale alpha_c per output channel
// (DESIGN.md "Ternary weights"): per-channel scales keep WeightSlice exact, since a narrower
// sub-net reuses the same codes and scales.
//
// Stateless functions; thread-compatible.
#ifndef TERNSERVE_MODELS_QUANTIZER_H_
#define TERNSERVE_MODELS_QUANTIZER_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/statusor.h"

namespace ternserve {

enum class QuantizerKind { kNone, kTwn };

absl::StatusOr<QuantizerKind> ParseQuantizer(const std::string& name);
const char* QuantizerName(QuantizerKind kind);

struct TernaryWeight {
  torch::Tensor codes;  // int8, same shape as the weight, values in {-1, 0, +1}
  torch::Tensor scale;  // fp32 [out]
};

// TWN (Li, Zhang & Liu, "Ternary Weight Networks", 2016), per output channel:
// Delta_c = 0.7 * mean|W_c|, t = sign(W) where |W| > Delta_c, alpha_c = mean of |W_c| over those
// weights.
TernaryWeight TwnTernarize(const torch::Tensor& weight);

// The weight the forward pass uses: identity for kNone; alpha * t with a straight-through gradient
// to the latent weight for kTwn.
torch::Tensor FakeQuantize(const torch::Tensor& weight, QuantizerKind kind);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_QUANTIZER_H_
