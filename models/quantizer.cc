#include "models/quantizer.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ternserve {
namespace {

constexpr double kInvSqrt2Pi = 0.39894228040143267794;

// TGA's statistics of one layer as [out] vectors: mu and sigma (each channel's over all but the
// first dimension, or the layer's repeated in every channel), and the absolute threshold delta the
// formulas take (differentiable in the trainable delta; [1] when shared by every channel).
// `center` is where the codes are cut around: mu, or 0 (TgaScope::kChannelSigmaZero).
struct TgaStats {
  torch::Tensor mu, sigma, delta, center;
};

TgaStats ComputeTgaStats(const torch::Tensor& w, const torch::Tensor& delta, TgaScope scope) {
  const torch::Tensor rows = w.detach().reshape({w.size(0), -1});
  TgaStats s;
  if (scope == TgaScope::kLayer) {
    s.mu = rows.mean().expand({w.size(0)});
    s.sigma = rows.std(/*unbiased=*/false).clamp_min(1e-8).expand({w.size(0)});
  } else {
    s.mu = rows.mean(1);
    s.sigma = rows.std(1, /*unbiased=*/false).clamp_min(1e-8);
  }
  const bool in_sigmas = scope == TgaScope::kChannelSigma || scope == TgaScope::kChannelSigmaZero;
  s.delta = in_sigmas ? delta.abs() * s.sigma : delta;
  s.center = scope == TgaScope::kChannelSigmaZero ? torch::zeros_like(s.mu) : s.mu;
  return s;
}

}  // namespace

absl::StatusOr<QuantizerKind> ParseQuantizer(const std::string& name) {
  if (name == "none") return QuantizerKind::kNone;
  if (name == "twn") return QuantizerKind::kTwn;
  if (name == "tga") return QuantizerKind::kTga;
  if (name == "sca") return QuantizerKind::kSca;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown quantizer \"", name, "\" (valid: tga, sca, twn, none)"));
}

const char* QuantizerName(QuantizerKind kind) {
  switch (kind) {
    case QuantizerKind::kTwn:
      return "twn";
    case QuantizerKind::kTga:
      return "tga";
    case QuantizerKind::kSca:
      return "sca";
    case QuantizerKind::kNone:
      break;
  }
  return "none";
}

absl::StatusOr<TgaScope> ParseTgaScope(const std::string& name) {
  if (name == "channel") return TgaScope::kChannel;
  if (name == "layer") return TgaScope::kLayer;
  if (name == "channel_sigma") return TgaScope::kChannelSigma;
  if (name == "channel_sigma_zero") return TgaScope::kChannelSigmaZero;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown TGA scope \"", name,
                   "\" (valid: channel, layer, channel_sigma, channel_sigma_zero)"));
}

const char* TgaScopeName(TgaScope scope) {
  switch (scope) {
    case TgaScope::kLayer:
      return "layer";
    case TgaScope::kChannelSigma:
      return "channel_sigma";
    case TgaScope::kChannelSigmaZero:
      return "channel_sigma_zero";
    case TgaScope::kChannel:
      break;
  }
  return "channel";
}

torch::Tensor PerChannel(const torch::Tensor& v, int64_t dims) {
  std::vector<int64_t> shape(dims, 1);
  shape[0] = v.size(0);
  return v.reshape(shape);
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

torch::Tensor TgaScale(const torch::Tensor& mu, const torch::Tensor& sigma,
                       const torch::Tensor& delta) {
  const torch::Tensor threshold =
      torch::minimum(delta.abs(), 3.0 * sigma);  // clamp(|delta|, 0, 3 sigma)
  const torch::Tensor beta = threshold / sigma;
  const torch::Tensor pdf = kInvSqrt2Pi * torch::exp(-0.5 * beta * beta);
  const torch::Tensor survival = 0.5 * torch::erfc(beta / std::sqrt(2.0));  // 1 - Phi(beta)
  return mu + sigma * pdf / survival;
}

std::pair<torch::Tensor, torch::Tensor> TgaTailScales(const torch::Tensor& mu,
                                                      const torch::Tensor& sigma,
                                                      const torch::Tensor& delta,
                                                      const torch::Tensor& center) {
  const torch::Tensor threshold = torch::minimum(delta.abs(), 3.0 * sigma);
  // The cuts sit at center +- threshold, i.e. at mu + (threshold - m) and mu - (threshold + m).
  const torch::Tensor m = center.defined() ? mu - center : torch::zeros_like(mu);
  // sigma lambda(x / sigma): how far beyond a cut at mu + x the tail's mean lies (TgaScale without
  // its clamp, which the threshold has had; x itself may be negative when |m| > threshold).
  auto tail = [&](const torch::Tensor& x) {
    const torch::Tensor beta = x / sigma;
    const torch::Tensor pdf = kInvSqrt2Pi * torch::exp(-0.5 * beta * beta);
    return sigma * pdf / (0.5 * torch::erfc(beta / std::sqrt(2.0)));
  };
  return {mu + tail(threshold - m), tail(threshold + m) - mu};
}

torch::Tensor TgaSharedScale(const torch::Tensor& mu, const torch::Tensor& sigma,
                             const torch::Tensor& delta, const torch::Tensor& imbalance,
                             const torch::Tensor& center) {
  // The count-weighted mean of the two tails' scales: n+ / n = (1 + imbalance) / 2.
  const auto [up, down] = TgaTailScales(mu, sigma, delta, center);
  return 0.5 * (1 + imbalance) * up + 0.5 * (1 - imbalance) * down;
}

namespace {

// t = +1 if w > center_c + Delta_c, -1 if w < center_c - Delta_c, else 0 (int8, no gradient),
// with Delta_c = clamp(|delta|, 0, 3 sigma_c) and center_c = mu_c, or 0 for kChannelSigmaZero.
torch::Tensor TgaCodes(const torch::Tensor& weight, const TgaStats& s) {
  torch::NoGradGuard no_grad;
  const torch::Tensor threshold =
      PerChannel(torch::minimum(s.delta.abs(), 3.0 * s.sigma), weight.dim());
  const torch::Tensor centered = weight - PerChannel(s.center, weight.dim());
  return ((centered > threshold).to(torch::kInt8) - (centered < -threshold).to(torch::kInt8))
      .to(torch::kInt8);
}

// TgaSharedScale for `codes`: each channel's imbalance, or with TgaScope::kLayer (one scale that
// every channel exports) the whole layer's.
torch::Tensor TgaCodesScale(const TgaStats& s, const torch::Tensor& codes, TgaScope scope) {
  // The codes carry no gradient, so neither does the imbalance; alpha's is delta's, through
  // sigma lambda(beta).
  const torch::Tensor rows =
      codes.reshape({scope == TgaScope::kLayer ? 1 : codes.size(0), -1}).to(s.mu.scalar_type());
  const torch::Tensor imbalance =
      (rows.sum(1) / rows.abs().sum(1).clamp_min(1.0)).expand({codes.size(0)});
  return TgaSharedScale(s.mu, s.sigma, s.delta, imbalance, s.center);
}

}  // namespace

TernaryWeight TgaTernarize(const torch::Tensor& weight, const torch::Tensor& delta,
                           TgaScope scope) {
  torch::NoGradGuard no_grad;
  const TgaStats s = ComputeTgaStats(weight, delta, scope);
  const torch::Tensor codes = TgaCodes(weight, s);
  return {codes, TgaCodesScale(s, codes, scope)};
}

torch::Tensor TgaFakeQuantize(const torch::Tensor& weight, const torch::Tensor& delta,
                              TgaScope scope, bool per_sign) {
  // One set of statistics for both the codes and the (differentiable) scale.
  const TgaStats s = ComputeTgaStats(weight, delta, scope);
  const torch::Tensor codes = TgaCodes(weight, s);
  const torch::Tensor t = codes.to(weight.scalar_type());
  torch::Tensor quantized;
  if (per_sign) {
    const auto [up, down] = TgaTailScales(s.mu, s.sigma, s.delta, s.center);
    quantized =
        PerChannel(up, t.dim()) * t.clamp_min(0) + PerChannel(down, t.dim()) * t.clamp_max(0);
  } else {
    quantized = PerChannel(TgaCodesScale(s, codes, scope), t.dim()) * t;
  }
  return quantized +
         (weight -
          weight.detach());  // straight-through to the weight; alpha carries delta's gradient
}

torch::Tensor TgaInitialDelta(const torch::Tensor& weight, TgaScope scope) {
  torch::NoGradGuard no_grad;
  torch::Tensor delta = 0.7 * weight.abs().mean();
  // In units of sigma: TWN's threshold over the layer's standard deviation.
  if (scope == TgaScope::kChannelSigma || scope == TgaScope::kChannelSigmaZero)
    delta = delta / weight.std(/*unbiased=*/false).clamp_min(1e-8);
  return delta.reshape({1}).clone();
}

torch::Tensor ScaRegularizer(const torch::Tensor& theta, double a) {
  const torch::Tensor t2 = torch::tanh(theta).pow(2);
  return ((a - t2) * t2).sum();
}

TernaryWeight ScaTernarize(const torch::Tensor& theta, double a) {
  torch::NoGradGuard no_grad;
  const torch::Tensor w = torch::tanh(theta);
  // The regularizer's barrier (Deng & Zhang, Eq. 6): tanh^2 theta = a / 2.
  const double cut = std::sqrt(a / 2);
  const torch::Tensor codes = (w.sign() * (w.abs() > cut).to(w.scalar_type())).to(torch::kInt8);
  const torch::Tensor t = codes.to(w.scalar_type()).reshape({w.size(0), -1});
  const torch::Tensor rows = w.reshape({w.size(0), -1});
  const torch::Tensor scale = (rows * t).sum(1) / t.abs().sum(1).clamp_min(1.0);
  return {codes, scale};
}

TernaryWeight Ternarize(QuantizerKind kind, const torch::Tensor& weight, const torch::Tensor& delta,
                        TgaScope scope, double sca_a) {
  switch (kind) {
    case QuantizerKind::kTga:
      return TgaTernarize(weight, delta, scope);
    case QuantizerKind::kSca:
      return ScaTernarize(weight, sca_a);
    case QuantizerKind::kTwn:
    case QuantizerKind::kNone:
      break;
  }
  return TwnTernarize(weight);
}

torch::Tensor FakeQuantize(QuantizerKind kind, const torch::Tensor& weight,
                           const torch::Tensor& delta, bool training, TgaScope scope, double sca_a,
                           bool tga_per_sign) {
  switch (kind) {
    case QuantizerKind::kNone:
      return weight;
    case QuantizerKind::kTga:
      return TgaFakeQuantize(weight, delta, scope, tga_per_sign);
    case QuantizerKind::kSca:
      if (training) return torch::tanh(weight);
      break;
    case QuantizerKind::kTwn:
      break;
  }
  const TernaryWeight q = Ternarize(kind, weight, delta, scope, sca_a);
  const torch::Tensor quantized =
      q.codes.to(weight.scalar_type()) * PerChannel(q.scale, weight.dim());
  // Straight-through estimator: forward exactly the ternary weight (w - w.detach() is exactly 0),
  // pass the gradient to the latent weight unchanged.
  return quantized + (weight - weight.detach());
}

}  // namespace ternserve
