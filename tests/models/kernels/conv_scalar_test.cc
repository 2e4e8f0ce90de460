// The scalar reference conv against the naive convolution (naive_conv.h) on every case of the case
// list (models/kernels/conv_cases.h), its epilogue on hand-computed values, and the stem's input
// quantization against a float convolution.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/conv_cases.h"
#include "models/kernels/conv_kernels.h"
#include "models/kernels/ternary_pack.h"
#include "tests/models/kernels/conv_checks.h"
#include "tests/models/kernels/naive_conv.h"

namespace ternserve::kernels {
namespace {

using testing::NaiveConv;
using testing::NaiveOutput;
using testing::RowCuts;
using testing::Rows;
using testing::SameOutput;

// Whole shape on the slice repacked on its own, and on a sliced view of the wider pack over 1 to 4
// row ranges: both must give the naive convolution's bytes.
TEST(ConvScalarTest, MatchesNaiveConvolutionOnEveryCase) {
  std::mt19937 rng(7);
  int checked = 0;
  for (const ConvCase& c : ConvCases()) {
    const ConvProblem p = MakeConvProblem(c, c.batch, /*seed=*/checked + 1);
    const NaiveOutput want = NaiveConv(p);
    std::vector<uint8_t> got_u8;
    std::vector<float> got_f32;
    TernaryConvScalar(p.shape, p.Input(), p.weights, p.Epilogue(&got_u8, &got_f32));
    ASSERT_TRUE(SameOutput(p, got_u8, got_f32, want.u8, want.f32)) << c.Describe();

    PackedTernaryConv full;
    ASSERT_TRUE(RepackTernaryConv(p.codes.data(), p.full_out, p.full_in, c.kernel, p.full_out,
                                  p.full_in, &full));
    TernaryConvWeights view;
    ASSERT_TRUE(SliceTernaryConv(full, c.out_channels, c.in_channels, &view));
    const ConvEpilogue e = p.Epilogue(&got_u8, &got_f32);
    const std::vector<int64_t> cuts = RowCuts(p.shape.Rows(c.kernel), &rng);
    for (size_t j = 0; j + 1 < cuts.size(); ++j) {
      TernaryConvScalar(Rows(p.shape, cuts[j], cuts[j + 1]), p.Input(), view, e);
    }
    ASSERT_TRUE(SameOutput(p, got_u8, got_f32, want.u8, want.f32))
        << "sliced view, " << cuts.size() - 1 << " row ranges, " << c.Describe();
    ++checked;
  }
  EXPECT_GE(checked, 80);
}

TEST(ConvScalarTest, RequantizeRoundsHalfToEvenAndSaturates) {
  EXPECT_EQ(RequantizeU8(2.5f, 1.0f), 2);
  EXPECT_EQ(RequantizeU8(3.5f, 1.0f), 4);
  EXPECT_EQ(RequantizeU8(3.49f, 1.0f), 3);
  EXPECT_EQ(RequantizeU8(-7.0f, 1.0f), 0);
  EXPECT_EQ(RequantizeU8(300.0f, 1.0f), 255);
  EXPECT_EQ(RequantizeU8(1.0f, 10.0f), 10);
  EXPECT_EQ(RequantizeU8(NAN, 1.0f), 0);
}

ConvCase OneConv(int side, int in, int out, Residual residual, bool relu, bool u8_output) {
  ConvCase c;
  c.name = "hand";
  c.in_h = c.in_w = side;
  c.in_channels = in;
  c.out_channels = out;
  c.residual = residual;
  c.relu = relu;
  c.u8_output = u8_output;
  return c;
}

// The epilogue steps on one hand-computed element: acc = sum of the 9 taps of an all-ones input
// in the middle of the image with all-ones weights = 9.
TEST(ConvScalarTest, EpilogueAppliesMultiplierBiasResidualReluAndScale) {
  ConvProblem p = MakeConvProblem(OneConv(3, 1, 1, Residual::kU8, true, true), 1, 3);
  std::vector<int8_t> ones(9, 1);
  uint8_t codes[3];
  PackTernary(ones.data(), 1, 9, codes);
  ASSERT_TRUE(RepackTernaryConv(codes, 1, 1, 3, 1, 1, &p.weights));
  for (size_t i = 0; i < p.input.size(); i += 4) p.input[i] = 1;
  p.multiplier = {0.5f};
  p.bias = {-1.0f};
  p.residual_scale = 0.25f;
  std::fill(p.residual_u8.begin(), p.residual_u8.end(), 0);
  p.residual_u8[4 * 4] = 8;  // centre pixel, channel 0: adds 2.0
  p.out_scale = 0.5f;
  std::vector<uint8_t> out_u8;
  std::vector<float> out_f32;
  TernaryConvScalar(p.shape, p.Input(), p.weights, p.Epilogue(&out_u8, &out_f32));
  EXPECT_EQ(out_u8[4 * 4], 11);     // (9 * 0.5 - 1 + 2) / 0.5 = 11
  EXPECT_EQ(out_u8[0], 2);          // corner: 4 taps in bounds, (4 * 0.5 - 1) / 0.5 = 2
  EXPECT_EQ(out_u8[4 * 4 + 1], 0);  // padding channel
}

TEST(ConvScalarTest, StemQuantizationRepresentsRealZeroExactly) {
  const float mean = 0.2860f, std = 0.3530f;
  const StemQuantization q = StemInputQuantization(mean, std);
  EXPECT_EQ(q.zero_point, 73);  // round(255 * 0.286): the stem case's zero point
  EXPECT_EQ(ConvCases()[0].name, "stem");
  EXPECT_EQ(ConvCases()[0].zero_point, q.zero_point);
  std::vector<float> pixels;
  for (int g = 0; g <= 255; ++g) pixels.push_back(g / 255.0f);
  std::vector<uint8_t> out(pixels.size() * kChannelAlign);
  QuantizeStemInput(pixels.data(), pixels.size(), mean, std, q, out.data());
  for (size_t i = 0; i < pixels.size(); ++i) {
    const float x = (pixels[i] - mean) / std;
    const float back = q.scale * (static_cast<int>(out[i * kChannelAlign]) - q.zero_point);
    // Half a step, plus one step where 255 saturates.
    EXPECT_LE(std::fabs(back - x), 1.01f * q.scale) << "grey level " << i;
    EXPECT_EQ(out[i * kChannelAlign + 1], 0);
  }
}

// The quantized stem (zero point, integer padding) against a float conv on normalized pixels with
// real zero padding: equal up to the input rounding, at the borders too.
TEST(ConvScalarTest, QuantizedStemMatchesFloatConvolutionIncludingBorders) {
  const float mean = 0.2860f, std = 0.3530f;
  const StemQuantization q = StemInputQuantization(mean, std);
  ConvCase c = OneConv(28, 1, 8, Residual::kNone, false, false);
  c.zero_point = q.zero_point;
  ConvProblem p = MakeConvProblem(c, 1, 11);
  std::mt19937 rng(11);
  std::vector<float> pixels(28 * 28);
  std::uniform_int_distribution<int> grey(0, 255);
  for (float& pixel : pixels) pixel = grey(rng) / 255.0f;
  QuantizeStemInput(pixels.data(), pixels.size(), mean, std, q, p.input.data());
  const float alpha = 0.8f;
  std::fill(p.multiplier.begin(), p.multiplier.end(), alpha * q.scale);
  std::fill(p.bias.begin(), p.bias.end(), 0.0f);
  std::vector<uint8_t> out_u8;
  std::vector<float> out_f32;
  TernaryConvScalar(p.shape, p.Input(), p.weights, p.Epilogue(&out_u8, &out_f32));
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      for (int o = 0; o < 8; ++o) {
        float expected = 0;
        for (int ky = 0; ky < 3; ++ky) {
          for (int kx = 0; kx < 3; ++kx) {
            const int iy = y - 1 + ky, ix = x - 1 + kx;
            if (iy < 0 || iy >= 28 || ix < 0 || ix >= 28) continue;  // real zero padding
            expected += alpha * p.t[o * 9 + ky * 3 + kx] * (pixels[iy * 28 + ix] - mean) / std;
          }
        }
        EXPECT_NEAR(out_f32[(y * 28 + x) * 8 + o], expected, 9 * 0.51f * alpha * q.scale)
            << y << "," << x << "," << o;
      }
    }
  }
}

}  // namespace
}  // namespace ternserve::kernels
