// Ternary weight quantizers for training (LibTorch). A quantizer maps a latent fp32 weight [out,
// ...] to its ternary form alpha_c * t, t in {-1, 0, +1}, with one scale alpha_c per output channel
// (docs/architecture.md "The SuperNet"): per-channel scales keep WeightSlice exact, since a
// narrower sub-net reuses the same codes and scales.
//
//   twn  Li, Zhang & Liu, "Ternary Weight Networks" (2016).
//   tga  He & Fan, "Simultaneously Optimizing Weight and Quantizer of Ternary Neural Network
//        using Truncated Gaussian Approximation", CVPR 2019: a trainable threshold whose scale
//        has a closed form.
//   sca  Deng & Zhang, "Sparsity-control Ternary Weight Networks", arXiv 2011.00580:
//        W = tanh(Theta) and a discretization regularizer; no straight-through estimator.
//
// Stateless functions; thread-compatible. Per-layer state (TGA's threshold) lives in the SuperNet.
#ifndef TERNSERVE_MODELS_QUANTIZER_H_
#define TERNSERVE_MODELS_QUANTIZER_H_

#include <torch/torch.h>

#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace ternserve {

enum class QuantizerKind { kNone, kTwn, kTga, kSca };

absl::StatusOr<QuantizerKind> ParseQuantizer(const std::string& name);
const char* QuantizerName(QuantizerKind kind);

// What TGA's mu, sigma and alpha are taken over, and what the layer's one trainable threshold
// delta means:
//   kChannel       each output channel c has its own mu_c, sigma_c and alpha_c (the bundle's format
//                  stores a scale per channel); delta is absolute, Delta_c = clamp(|delta|, 0,
//                  3 sigma_c). The default of the functions below; the model shipped before
//                  kChannelSigma.
//   kLayer         the whole layer, as in He & Fan's paper: one mu, sigma and alpha, which every
//                  channel exports.
//   kChannelSigma  like kChannel, but delta is in units of each channel's sigma: Delta_c =
//                  clamp(|delta|, 0, 3) * sigma_c, so every channel is cut at the same beta and
//                  gets about the same sparsity (as TWN's per-channel threshold does).
//                  ternserve-train's default and the shipped model: 0.67 points above kChannel on
//                  the largest sub-net and 1.62 on the smallest in full runs (README).
//   kChannelSigmaZero  like kChannelSigma, but the codes are cut around 0, not around mu_c: t =
//                  +1 if w > Delta_c, -1 if w < -Delta_c. A channel's mean is then kept as more
//                  codes of one sign than of the other, where cutting around mu_c drops it.
enum class TgaScope { kChannel, kLayer, kChannelSigma, kChannelSigmaZero };
absl::StatusOr<TgaScope> ParseTgaScope(const std::string& name);
const char* TgaScopeName(TgaScope scope);

struct TernaryWeight {
  torch::Tensor codes;  // int8, same shape as the weight, values in {-1, 0, +1}
  torch::Tensor scale;  // fp32 [out]
};

// Broadcasts a per-output-channel [out] vector against a weight of `dims` dimensions.
torch::Tensor PerChannel(const torch::Tensor& v, int64_t dims);

// --- TWN
// ---------------------------------------------------------------------------------------------------
// Per output channel: Delta_c = 0.7 * mean|W_c|, t = sign(W) where |W| > Delta_c, alpha_c = mean
// |W_c| over those weights.
TernaryWeight TwnTernarize(const torch::Tensor& weight);

// --- TGA
// ---------------------------------------------------------------------------------------------------
// Per output channel c, with mu_c and sigma_c the channel's weight mean and standard deviation
// (with TgaScope::kLayer, the layer's, the same for every c) and delta the layer's trainable
// threshold:
//   Delta_c = clamp(|delta|, 0, 3 sigma_c),  beta_c = Delta_c / sigma_c
//   t = +1 if w > mu_c + Delta_c, -1 if w < mu_c - Delta_c, else 0
// (kChannelSigmaZero: cut around 0 instead of mu_c; TgaTailScales gives both cases' scales.)
// Under the Gaussian model the +1 codes' weights average mu_c + sigma_c lambda(beta_c), lambda =
// phi / (1 - Phi), the mean of a Gaussian truncated below at mu_c + Delta_c (He & Fan, Eq. 9), and
// the -1 codes' weights average -(sigma_c lambda(beta_c) - mu_c). The paper's one scale assumes
// mu = 0, where the two agree. Ours keeps one scale per channel (the bundle stores one, and the
// kernels apply it with one multiply per output; a scale per sign would need a second sum of the
// inputs under the -1 codes, twice the MACs) and takes the count-weighted mean of the two:
//   alpha_c = sigma_c lambda(beta_c) + mu_c (n+_c - n-_c) / (n+_c + n-_c)
// the least-squares scale of those codes under the model. Measured against training with a scale
// per sign (TgaFakeQuantize's per_sign) in models/README.md. alpha is differentiable in delta,
// which is how the loss gradient reaches the threshold.
//
// TgaScale: Eq. 9, mu + sigma lambda(beta) with the clamp above.
torch::Tensor TgaScale(const torch::Tensor& mu, const torch::Tensor& sigma,
                       const torch::Tensor& delta);
// The Gaussian model's scale of each sign, for codes cut at center_c +- Delta_c (center: mu when
// undefined): the +1 codes' mean weight and the -1 codes' mean magnitude, (mu_c + sigma_c
// lambda((Delta_c - m_c) / sigma_c), sigma_c lambda((Delta_c + m_c) / sigma_c) - mu_c) with m_c =
// mu_c - center_c. Around mu: (mu + sigma lambda(beta), sigma lambda(beta) - mu).
std::pair<torch::Tensor, torch::Tensor> TgaTailScales(const torch::Tensor& mu,
                                                      const torch::Tensor& sigma,
                                                      const torch::Tensor& delta,
                                                      const torch::Tensor& center = {});
// Their count-weighted mean, imbalance = (n+ - n-) / (n+ + n-) per channel; around mu, sigma
// lambda(beta) + mu * imbalance.
torch::Tensor TgaSharedScale(const torch::Tensor& mu, const torch::Tensor& sigma,
                             const torch::Tensor& delta, const torch::Tensor& imbalance,
                             const torch::Tensor& center = {});
TernaryWeight TgaTernarize(const torch::Tensor& weight, const torch::Tensor& delta,
                           TgaScope scope = TgaScope::kChannel);
// alpha(delta) * t with a straight-through gradient to the latent weight; differentiable in delta.
// `per_sign` (measurement only: the bundle stores one scale) gives the +1 codes the Gaussian
// model's mu + sigma lambda and the -1 codes -(sigma lambda - mu) instead.
torch::Tensor TgaFakeQuantize(const torch::Tensor& weight, const torch::Tensor& delta,
                              TgaScope scope = TgaScope::kChannel, bool per_sign = false);
// The initial threshold: TWN's 0.7 * mean|W| over the layer (kChannelSigma: divided by the
// layer's standard deviation).
torch::Tensor TgaInitialDelta(const torch::Tensor& weight, TgaScope scope = TgaScope::kChannel);

// --- SCA
// ---------------------------------------------------------------------------------------------------
// Training runs on W = tanh(Theta) itself (no estimator); the regularizer (paper Eq. 6)
//   R(Theta) = sum (a - tanh^2 theta) * tanh^2 theta
// is minimal at tanh^2 = 0 and tanh^2 = 1 and its barrier sits at a / 2, so a larger `a` sends more
// weights to zero: `a` controls sparsity, 0 < a < 2. The final codes cut at that barrier:
// t = sign(tanh theta) where tanh^2 theta > a / 2, else 0, so a weight is exported on the side of
// the barrier the regularizer was pulling it to (a cut at |tanh theta| = 0.5, plain rounding, is
// the barrier of a = 0.5 only). The per-channel scale is the least-squares
// alpha_c = <tanh theta_c, t_c> / <t_c, t_c>.
inline constexpr double kDefaultScaA = 0.8;  // ternserve-train --sca_a's default
torch::Tensor ScaRegularizer(const torch::Tensor& theta, double a);
TernaryWeight ScaTernarize(const torch::Tensor& theta, double a);

// --- Common
// ------------------------------------------------------------------------------------------------
// The ternary codes and scales a layer exports; `delta` is used by TGA only, `sca_a` by SCA only.
TernaryWeight Ternarize(QuantizerKind kind, const torch::Tensor& weight, const torch::Tensor& delta,
                        TgaScope scope = TgaScope::kChannel, double sca_a = kDefaultScaA);

// The weight the forward pass uses. kNone: the weight. kTwn, kTga: alpha * t with a
// straight-through gradient. kSca: tanh(theta) while training, alpha * round(tanh theta) in
// evaluation.
torch::Tensor FakeQuantize(QuantizerKind kind, const torch::Tensor& weight,
                           const torch::Tensor& delta, bool training,
                           TgaScope scope = TgaScope::kChannel, double sca_a = kDefaultScaA,
                           bool tga_per_sign = false);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_QUANTIZER_H_
