// Each quantizer behaves as its paper says.
#include "models/quantizer.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ternserve {
namespace {

// Every channel of alpha * t holds only {-alpha_c, 0, +alpha_c}.
void ExpectTernaryPerChannel(const torch::Tensor& q) {
  for (int64_t c = 0; c < q.size(0); ++c) {
    const torch::Tensor values = std::get<0>(torch::_unique(q[c].detach().abs()));
    EXPECT_LE(values.numel(), 2) << "channel " << c;  // {0, alpha_c}
  }
}

TEST(QuantizerTest, ParsesNames) {
  for (const char* name : {"tga", "sca", "twn", "none"}) {
    absl::StatusOr<QuantizerKind> kind = ParseQuantizer(name);
    ASSERT_TRUE(kind.ok()) << name;
    EXPECT_STREQ(QuantizerName(*kind), name);
  }
  EXPECT_EQ(ParseQuantizer("ttq").status().code(), absl::StatusCode::kInvalidArgument);
  for (const char* name : {"channel", "layer", "channel_sigma", "channel_sigma_zero"}) {
    absl::StatusOr<TgaScope> scope = ParseTgaScope(name);
    ASSERT_TRUE(scope.ok()) << name;
    EXPECT_STREQ(TgaScopeName(*scope), name);
  }
  EXPECT_EQ(ParseTgaScope("tensor").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(QuantizerTest, TwnOnAKnownTensor) {
  // Row 0: mean|w| = 1.0, Delta = 0.7: kept |w| > 0.7 -> {2, -1.5}, alpha = 1.75.
  // Row 1: mean|w| = 0.25, Delta = 0.175: kept {0.5, -0.3, 0.2}, alpha = 1/3.
  const torch::Tensor w = torch::tensor({{2.0f, -1.5f, 0.3f, 0.2f}, {0.5f, -0.3f, 0.2f, 0.0f}});
  const TernaryWeight q = TwnTernarize(w);
  EXPECT_TRUE(torch::equal(q.codes, torch::tensor({{1, -1, 0, 0}, {1, -1, 1, 0}}, torch::kInt8)));
  EXPECT_NEAR(q.scale[0].item<float>(), 1.75f, 1e-6);
  EXPECT_NEAR(q.scale[1].item<float>(), 1.0f / 3.0f, 1e-6);
}

// E[w | w > mu + Delta] for w ~ N(mu, sigma^2), by the trapezoid rule.
double TruncatedGaussianMean(double mu, double sigma, double delta) {
  const double lo = mu + delta, hi = mu + 12 * sigma;
  const int n = 200000;
  const double h = (hi - lo) / n;
  double mass = 0, moment = 0;
  for (int i = 0; i <= n; ++i) {
    const double w = lo + i * h;
    const double density =
        std::exp(-0.5 * std::pow((w - mu) / sigma, 2)) / (sigma * std::sqrt(2 * M_PI));
    const double weight = (i == 0 || i == n) ? 0.5 : 1.0;
    mass += weight * density * h;
    moment += weight * w * density * h;
  }
  return moment / mass;
}

TEST(QuantizerTest, TgaScaleIsTheTruncatedGaussianMean) {
  struct Case {
    double mu, sigma, delta;
  } cases[] = {{0.0, 1.0, 0.5}, {0.01, 0.05, 0.03}, {-0.02, 0.2, 0.3}, {0.0, 0.1, 0.0}};
  for (const Case& c : cases) {
    const torch::Tensor alpha =
        TgaScale(torch::tensor({c.mu}, torch::kFloat64), torch::tensor({c.sigma}, torch::kFloat64),
                 torch::tensor({c.delta}, torch::kFloat64));
    EXPECT_NEAR(alpha.item<double>(), TruncatedGaussianMean(c.mu, c.sigma, c.delta),
                1e-6 * (1 + c.sigma))
        << "mu " << c.mu << " sigma " << c.sigma << " delta " << c.delta;
  }
  // The threshold is clamped to 3 sigma: a huge delta gives the scale at beta = 3.
  const torch::Tensor clamped =
      TgaScale(torch::tensor({0.0}), torch::tensor({1.0}), torch::tensor({100.0}));
  EXPECT_NEAR(clamped.item<float>(), TruncatedGaussianMean(0, 1, 3), 1e-4);
}

TEST(QuantizerTest, TgaScalesFollowEachTailsMeanAndShareOneByLeastSquares) {
  // Channels of Gaussian weights with means far from 0 (|mu| = 0.5 sigma), where Eq. 9's
  // upper-tail scale overstates the -1 codes' weights by 2 mu; codes cut around each channel's
  // mean (channel_sigma) and around 0 (channel_sigma_zero).
  torch::manual_seed(6);
  const torch::Tensor mu = torch::tensor({0.05f, -0.05f, 0.0f}).reshape({3, 1});
  const torch::Tensor w = (torch::randn({3, 200000}) * 0.1 + mu).requires_grad_(true);
  const torch::Tensor x = w.detach();
  for (const TgaScope scope : {TgaScope::kChannelSigma, TgaScope::kChannelSigmaZero}) {
    SCOPED_TRACE(TgaScopeName(scope));
    const torch::Tensor delta = torch::tensor({0.7f}).requires_grad_(true);  // in sigmas
    const TernaryWeight shared = TgaTernarize(w, delta, scope);
    const torch::Tensor per_sign = TgaFakeQuantize(w, delta, scope, /*per_sign=*/true);
    const torch::Tensor t = shared.codes.to(torch::kFloat32);
    const torch::Tensor center =
        scope == TgaScope::kChannelSigma ? x.mean(1, true) : torch::zeros({3, 1});
    const torch::Tensor cut = 0.7 * x.std(1, /*unbiased=*/false, /*keepdim=*/true);
    EXPECT_TRUE(torch::equal(
        shared.codes, (x - center > cut).to(torch::kInt8) - (x - center < -cut).to(torch::kInt8)));
    for (int64_t c = 0; c < 3; ++c) {
      SCOPED_TRACE(c);
      const torch::Tensor row = x[c], tc = t[c], q = per_sign.detach()[c];
      // The same codes; each sign's scale is the mean of its weights (the model fits: 200,000
      // samples).
      EXPECT_TRUE(torch::equal(q.sign(), tc));
      EXPECT_NEAR(q.masked_select(tc > 0).mean().item<float>(),
                  row.masked_select(tc > 0).mean().item<float>(), 2e-3);
      EXPECT_NEAR(q.masked_select(tc < 0).mean().item<float>(),
                  row.masked_select(tc < 0).mean().item<float>(), 2e-3);
      // The one scale is the least-squares scale of the codes, <w, t> / <t, t>.
      const float least_squares = ((row * tc).sum() / tc.abs().sum()).item<float>();
      EXPECT_NEAR(shared.scale[c].item<float>(), least_squares, 2e-3);
    }
    // Both scales carry the threshold's gradient.
    (per_sign * torch::randn_like(per_sign)).sum().backward();
    ASSERT_TRUE(delta.grad().defined());
    EXPECT_GT(delta.grad().abs().item<float>(), 1e-6);
    if (scope == TgaScope::kChannelSigmaZero) {
      // Cut around 0, a channel's mean shows as more codes of its sign.
      EXPECT_GT(t[0].sum().item<float>(), 0.2 * t[0].abs().sum().item<float>());
      EXPECT_LT(t[1].sum().item<float>(), -0.2 * t[1].abs().sum().item<float>());
      continue;
    }
    // Around mu, where mu is 0 the three agree with Eq. 9 (the paper's symmetric case); where it
    // is not, the one scale sits between the two tails, 2 |mu| = 0.1 apart.
    const torch::Tensor pos = per_sign.detach().clamp_min(0).amax(1);
    const torch::Tensor neg = (-per_sign.detach()).clamp_min(0).amax(1);
    EXPECT_NEAR(pos[2].item<float>(), neg[2].item<float>(), 1e-3);
    EXPECT_NEAR(shared.scale[2].item<float>(), pos[2].item<float>(), 2e-3);
    for (int64_t c = 0; c < 2; ++c) {
      const float hi = std::max(pos[c].item<float>(), neg[c].item<float>());
      const float lo = std::min(pos[c].item<float>(), neg[c].item<float>());
      EXPECT_NEAR(hi - lo, 0.1f, 3e-3);
      EXPECT_GT(shared.scale[c].item<float>(), lo + 0.02f);
      EXPECT_LT(shared.scale[c].item<float>(), hi - 0.02f);
    }
  }
}

TEST(QuantizerTest, TgaThresholdGetsAGradient) {
  torch::manual_seed(2);
  const torch::Tensor w = (torch::randn({8, 4, 3, 3}) * 0.1).requires_grad_(true);
  const torch::Tensor delta = TgaInitialDelta(w).requires_grad_(true);
  const torch::Tensor q = TgaFakeQuantize(w, delta);
  ExpectTernaryPerChannel(q);
  // A loss that depends on the scale: the gradient must reach delta, and w gets the
  // straight-through gradient.
  const torch::Tensor target = torch::randn_like(w);
  (q * target).sum().backward();
  ASSERT_TRUE(delta.grad().defined());
  EXPECT_GT(delta.grad().abs().item<float>(), 1e-6);
  EXPECT_TRUE(torch::allclose(w.grad(), target));
  // Codes follow the per-channel threshold around the channel mean.
  const TernaryWeight t = TgaTernarize(w, delta);
  const torch::Tensor rows = w.detach().reshape({8, -1});
  const torch::Tensor mu = rows.mean(1, true);
  const torch::Tensor thr = torch::minimum(delta.detach().abs(), 3 * rows.std(1, false, true));
  const torch::Tensor expected =
      (rows > mu + thr).to(torch::kInt8) - (rows < mu - thr).to(torch::kInt8);
  EXPECT_TRUE(torch::equal(t.codes.reshape({8, -1}), expected));
}

TEST(QuantizerTest, TgaLayerScopeTakesTheLayersMoments) {
  // Channels of very different spread and offset, so per-channel and per-layer statistics differ.
  torch::manual_seed(3);
  const torch::Tensor spread = torch::arange(1, 9, torch::kFloat32).reshape({8, 1, 1, 1});
  const torch::Tensor w =
      (torch::randn({8, 4, 3, 3}) * 0.05 * spread + 0.01 * spread).requires_grad_(true);
  const torch::Tensor delta = TgaInitialDelta(w).requires_grad_(true);
  const TernaryWeight t = TgaTernarize(w, delta, TgaScope::kLayer);
  // Codes: one threshold around the layer's mean; scale: the layer's one alpha in every channel.
  const torch::Tensor flat = w.detach().flatten();
  const torch::Tensor mu = flat.mean(), sigma = flat.std(/*unbiased=*/false);
  const torch::Tensor thr = torch::minimum(delta.detach().abs(), 3 * sigma);
  const torch::Tensor expected =
      (w.detach() > mu + thr).to(torch::kInt8) - (w.detach() < mu - thr).to(torch::kInt8);
  EXPECT_TRUE(torch::equal(t.codes, expected));
  const torch::Tensor all_codes = t.codes.to(torch::kFloat32);
  const torch::Tensor imbalance = all_codes.sum() / all_codes.abs().sum();
  const float alpha =
      TgaSharedScale(mu.reshape({1}), sigma.reshape({1}), delta.detach(), imbalance.reshape({1}))[0]
          .item<float>();
  EXPECT_TRUE(torch::allclose(t.scale, torch::full({8}, alpha)));
  const TernaryWeight per_channel = TgaTernarize(w, delta, TgaScope::kChannel);
  EXPECT_FALSE(torch::equal(per_channel.codes, t.codes));
  EXPECT_GT((per_channel.scale.max() - per_channel.scale.min()).item<float>(), 1e-3);
  // The fake-quantized weight is those codes times alpha, and the loss gradient reaches delta.
  const torch::Tensor q = TgaFakeQuantize(w, delta, TgaScope::kLayer);
  EXPECT_TRUE(torch::allclose(q.detach(), t.codes.to(torch::kFloat32) * alpha));
  (q * torch::randn_like(w)).sum().backward();
  ASSERT_TRUE(delta.grad().defined());
  EXPECT_GT(delta.grad().abs().item<float>(), 1e-6);
}

TEST(QuantizerTest, TgaChannelSigmaScopeCutsEveryChannelAtTheSameBeta) {
  torch::manual_seed(4);
  const torch::Tensor spread = torch::arange(1, 9, torch::kFloat32).reshape({8, 1});
  const torch::Tensor w = (torch::randn({8, 256}) * 0.05 * spread).requires_grad_(true);
  const torch::Tensor delta = TgaInitialDelta(w, TgaScope::kChannelSigma).requires_grad_(true);
  // Initialized as TWN's threshold in units of the layer's sigma: about 0.7 * sqrt(2 / pi).
  EXPECT_NEAR(delta.item<float>(),
              (0.7 * w.detach().abs().mean() / w.detach().std(/*unbiased=*/false)).item<float>(),
              1e-5);
  const TernaryWeight t = TgaTernarize(w, delta, TgaScope::kChannelSigma);
  const torch::Tensor mu = w.detach().mean(1, true), sigma = w.detach().std(1, false, true);
  const torch::Tensor thr = delta.detach().abs().clamp_max(3.0) * sigma;
  const torch::Tensor centered = w.detach() - mu;
  EXPECT_TRUE(torch::equal(t.codes,
                           (centered > thr).to(torch::kInt8) - (centered < -thr).to(torch::kInt8)));
  const torch::Tensor codes = t.codes.to(torch::kFloat32);
  EXPECT_TRUE(torch::allclose(
      t.scale, TgaSharedScale(mu.flatten(), sigma.flatten(), delta.detach().abs() * sigma.flatten(),
                              codes.sum(1) / codes.abs().sum(1))));
  // The same beta in every channel, so sparsities are alike although the spreads differ 8x; a
  // shared absolute threshold (kChannel) zeroes the narrow channels far more than the wide ones.
  const torch::Tensor sparsity = t.codes.eq(0).to(torch::kFloat32).mean(1);
  EXPECT_LT((sparsity.max() - sparsity.min()).item<float>(), 0.3);
  const torch::Tensor absolute = TgaTernarize(w, TgaInitialDelta(w), TgaScope::kChannel)
                                     .codes.eq(0)
                                     .to(torch::kFloat32)
                                     .mean(1);
  EXPECT_GT((absolute[0] - absolute[7]).item<float>(), 0.5);
  const torch::Tensor q = TgaFakeQuantize(w, delta, TgaScope::kChannelSigma);
  ExpectTernaryPerChannel(q);
  (q * torch::randn_like(w)).sum().backward();
  ASSERT_TRUE(delta.grad().defined());
  EXPECT_GT(delta.grad().abs().item<float>(), 1e-6);
}

TEST(QuantizerTest, ScaSparsityGrowsWithA) {
  // Same tensor, same number of steps on the regularizer alone: sparsity of round(tanh theta)
  // strictly increases over a in {0.4, 0.8, 1.2, 1.6}.
  torch::manual_seed(5);
  const torch::Tensor init = torch::randn({16, 64});
  double previous = -1;
  for (double a : {0.4, 0.8, 1.2, 1.6}) {
    torch::Tensor theta = init.clone().requires_grad_(true);
    torch::optim::SGD sgd({theta}, torch::optim::SGDOptions(0.05));
    for (int step = 0; step < 300; ++step) {
      sgd.zero_grad();
      ScaRegularizer(theta, a).backward();
      sgd.step();
    }
    const TernaryWeight q = ScaTernarize(theta, a);
    const double sparsity = q.codes.eq(0).to(torch::kFloat64).mean().item<double>();
    EXPECT_GT(sparsity, previous) << "a = " << a;
    previous = sparsity;
  }
}

TEST(QuantizerTest, ScaCodesAreCutAtTheRegularizersBarrier) {
  // tanh: 0.964, -0.964, 0.0997, 0.762. At a = 0.5 the barrier is |tanh| = 0.5 (plain rounding);
  // at a = 1.2 it is sqrt(0.6) = 0.775, above tanh(1): that weight is cut to 0.
  const torch::Tensor theta = torch::tensor({{2.0f, -2.0f, 0.1f, 1.0f}});
  EXPECT_TRUE(
      torch::equal(ScaTernarize(theta, 0.5).codes, torch::tensor({{1, -1, 0, 1}}, torch::kInt8)));
  EXPECT_TRUE(
      torch::equal(ScaTernarize(theta, 1.2).codes, torch::tensor({{1, -1, 0, 0}}, torch::kInt8)));
  EXPECT_TRUE(torch::equal(ScaTernarize(theta, 0.01).codes,
                           torch::tensor({{1, -1, 1, 1}}, torch::kInt8)));  // barrier 0.0707
  const TernaryWeight q = ScaTernarize(theta, 0.5);
  const double expected =
      (std::tanh(2.0) * 2 + std::tanh(1.0)) / 3;  // least squares over the non-zero codes
  EXPECT_NEAR(q.scale[0].item<float>(), expected, 1e-6);
  // Training runs on tanh(theta) itself; evaluation on alpha * t.
  EXPECT_TRUE(
      torch::allclose(FakeQuantize(QuantizerKind::kSca, theta, {}, true), torch::tanh(theta)));
  ExpectTernaryPerChannel(FakeQuantize(QuantizerKind::kSca, theta, {}, false));
  // Evaluation uses the same cut as the export.
  const torch::Tensor eval =
      FakeQuantize(QuantizerKind::kSca, theta, {}, false, TgaScope::kChannel, /*sca_a=*/1.2);
  EXPECT_EQ(eval[0][3].item<float>(), 0.0f);
}

TEST(QuantizerTest, EveryQuantizerIsTernaryPerChannelInEvaluation) {
  torch::manual_seed(1);
  const torch::Tensor w = torch::randn({6, 4, 3, 3}).requires_grad_(true);
  for (QuantizerKind kind : {QuantizerKind::kTwn, QuantizerKind::kTga, QuantizerKind::kSca}) {
    const torch::Tensor delta = TgaInitialDelta(w);
    const torch::Tensor q = FakeQuantize(kind, w, delta, /*training=*/false);
    ExpectTernaryPerChannel(q);
    const TernaryWeight t = Ternarize(kind, w, delta);
    EXPECT_TRUE(torch::equal(q.detach(), t.codes.to(torch::kFloat32) * PerChannel(t.scale, 4)))
        << QuantizerName(kind);
  }
  // TWN's straight-through gradient is the identity.
  const torch::Tensor q = FakeQuantize(QuantizerKind::kTwn, w, {}, /*training=*/true);
  q.sum().backward();
  EXPECT_TRUE(torch::equal(w.grad(), torch::ones_like(w)));
}

}  // namespace
}  // namespace ternserve
