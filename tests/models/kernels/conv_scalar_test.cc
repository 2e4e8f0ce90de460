// The scalar reference conv against a naive integer convolution, its epilogue on hand-computed
// values, and the stem's input quantization against a float convolution.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/conv_kernels.h"
#include "tests/models/kernels/conv_test_cases.h"

namespace ternserve::kernels {
namespace {

using testing::ConvCase;
using testing::MakeConvCase;
using testing::NaiveAccumulators;
using testing::Residual;

// With multiplier 1, bias 0, no ReLU and float output, the output is float(acc), exact below 2^24.
TEST(ConvScalarTest, AccumulatorMatchesNaiveDirectConvolution) {
  std::mt19937 rng(7);
  const int channels[] = {1, 3, 8, 24, 48, 96, 128};
  int cases = 0;
  for (int kernel : {3, 1}) {
    for (int stride : {1, 2}) {
      for (int side : {28, 14, 7}) {
        for (int32_t zero_point : {0, 73}) {
          const int in = channels[rng() % 7], out = channels[rng() % 7];
          const int batch = side == 28 && in * out > 1024 ? 1 : 1 + static_cast<int>(rng() % 3);
          ConvCase c = MakeConvCase(&rng, kernel, stride, side, batch, in, out, zero_point,
                                    Residual::kNone, /*relu=*/false, /*u8_output=*/false);
          std::fill(c.multiplier.begin(), c.multiplier.end(), 1.0f);
          std::fill(c.bias.begin(), c.bias.end(), 0.0f);
          std::vector<uint8_t> out_u8;
          std::vector<float> out_f32;
          TernaryConvScalar(c.shape, testing::InputOf(c), c.weights,
                            testing::EpilogueOf(c, &out_u8, &out_f32));
          const std::vector<int32_t> acc = NaiveAccumulators(c);
          const int stride_out = PaddedChannels(out);
          size_t index = 0;
          for (int64_t e = 0; e < c.OutElements(); ++e) {
            if (e % stride_out >= out) {
              ASSERT_EQ(out_f32[e], 0.0f) << "padding channel, " << c.Describe();
              continue;
            }
            ASSERT_EQ(out_f32[e], static_cast<float>(acc[index]))
                << "element " << e << ", " << c.Describe();
            ++index;
          }
          ++cases;
        }
      }
    }
  }
  EXPECT_EQ(cases, 24);
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

// The epilogue steps on one hand-computed element: acc = sum of the 9 taps of an all-ones input
// in the middle of the image with all-ones weights = 9.
TEST(ConvScalarTest, EpilogueAppliesMultiplierBiasResidualReluAndScale) {
  std::mt19937 rng(3);
  ConvCase c = MakeConvCase(&rng, 3, 1, 3, 1, 1, 1, 0, Residual::kU8, true, true);
  std::vector<int8_t> ones(9, 1);
  uint8_t codes[3];
  PackTernary(ones.data(), 1, 9, codes);
  ASSERT_TRUE(RepackTernaryConv(codes, 1, 1, 3, 1, 1, &c.weights));
  for (size_t p = 0; p < c.input.size(); p += 4) c.input[p] = 1;
  c.multiplier = {0.5f};
  c.bias = {-1.0f};
  c.residual_scale = 0.25f;
  std::fill(c.residual_u8.begin(), c.residual_u8.end(), 0);
  c.residual_u8[4 * 4] = 8;  // centre pixel, channel 0: adds 2.0
  c.out_scale = 0.5f;
  std::vector<uint8_t> out_u8;
  std::vector<float> out_f32;
  TernaryConvScalar(c.shape, testing::InputOf(c), c.weights,
                    testing::EpilogueOf(c, &out_u8, &out_f32));
  EXPECT_EQ(out_u8[4 * 4], 11);     // (9 * 0.5 - 1 + 2) / 0.5 = 11
  EXPECT_EQ(out_u8[0], 2);          // corner: 4 taps in bounds, (4 * 0.5 - 1) / 0.5 = 2
  EXPECT_EQ(out_u8[4 * 4 + 1], 0);  // padding channel
}

TEST(ConvScalarTest, StemQuantizationRepresentsRealZeroExactly) {
  const float mean = 0.2860f, std = 0.3530f;
  const StemQuantization q = StemInputQuantization(mean, std);
  EXPECT_EQ(q.zero_point, 73);  // round(255 * 0.286)
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
  std::mt19937 rng(11);
  const float mean = 0.2860f, std = 0.3530f;
  const StemQuantization q = StemInputQuantization(mean, std);
  ConvCase c = MakeConvCase(&rng, 3, 1, 28, 1, 1, 8, q.zero_point, Residual::kNone, false, false);
  std::vector<float> pixels(28 * 28);
  std::uniform_int_distribution<int> grey(0, 255);
  for (float& p : pixels) p = grey(rng) / 255.0f;
  QuantizeStemInput(pixels.data(), pixels.size(), mean, std, q, c.input.data());
  const float alpha = 0.8f;
  std::fill(c.multiplier.begin(), c.multiplier.end(), alpha * q.scale);
  std::fill(c.bias.begin(), c.bias.end(), 0.0f);
  std::vector<uint8_t> out_u8;
  std::vector<float> out_f32;
  TernaryConvScalar(c.shape, testing::InputOf(c), c.weights,
                    testing::EpilogueOf(c, &out_u8, &out_f32));
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      for (int o = 0; o < 8; ++o) {
        float expected = 0;
        for (int ky = 0; ky < 3; ++ky) {
          for (int kx = 0; kx < 3; ++kx) {
            const int iy = y - 1 + ky, ix = x - 1 + kx;
            if (iy < 0 || iy >= 28 || ix < 0 || ix >= 28) continue;  // real zero padding
            expected += alpha * c.t[o * 9 + ky * 3 + kx] * (pixels[iy * 28 + ix] - mean) / std;
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
