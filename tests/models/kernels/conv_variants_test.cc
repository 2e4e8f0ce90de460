// Every variant of the ternary conv table against the scalar reference, bit for bit, over random
// shapes of the SuperNet's layers (and odd ones). A variant this CPU cannot run is skipped.
#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/conv_kernels.h"
#include "models/kernels/ternary_pack.h"
#include "tests/models/kernels/conv_test_cases.h"

namespace ternserve::kernels {
namespace {

using testing::ConvCase;
using testing::MakeConvCase;
using testing::Residual;

std::vector<std::string> VariantNames() {
  size_t count = 0;
  const TernaryConvKernel* table = TernaryConvKernels(&count);
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(table[i].name);
  return names;
}

class ConvVariantTest : public ::testing::TestWithParam<std::string> {};

// Runs `c` through the reference and the variant; expects identical bytes.
void ExpectBitExact(const TernaryConvKernel& variant, const ConvCase& c) {
  std::vector<uint8_t> ref_u8, got_u8;
  std::vector<float> ref_f32, got_f32;
  TernaryConvScalar(c.shape, testing::InputOf(c), c.weights,
                    testing::EpilogueOf(c, &ref_u8, &ref_f32));
  variant.conv(c.shape, testing::InputOf(c), c.weights, testing::EpilogueOf(c, &got_u8, &got_f32));
  if (c.u8_output) {
    ASSERT_EQ(got_u8.size(), ref_u8.size());
    for (size_t e = 0; e < ref_u8.size(); ++e) {
      ASSERT_EQ(got_u8[e], ref_u8[e]) << variant.name << " element " << e << ", " << c.Describe();
    }
  } else {
    ASSERT_EQ(got_f32.size(), ref_f32.size());
    for (size_t e = 0; e < ref_f32.size(); ++e) {
      uint32_t got, ref;
      std::memcpy(&got, &got_f32[e], 4);
      std::memcpy(&ref, &ref_f32[e], 4);
      ASSERT_EQ(got, ref) << variant.name << " element " << e << " (" << got_f32[e] << " vs "
                          << ref_f32[e] << "), " << c.Describe();
    }
  }
}

TEST_P(ConvVariantTest, BitExactWithScalarOnRandomShapes) {
  const TernaryConvKernel* variant = FindTernaryConvKernel(GetParam().c_str());
  ASSERT_NE(variant, nullptr);
  if (!variant->supported()) GTEST_SKIP() << "this CPU lacks " << variant->name;
  std::mt19937 rng(1234);
  const int channels[] = {1, 3, 8, 16, 24, 32, 48, 64, 96, 128};
  const int sides[] = {28, 14, 7};
  const int num_cases = 120;
  for (int i = 0; i < num_cases; ++i) {
    const int kernel = i % 3 == 2 ? 1 : 3;
    const int stride = 1 + static_cast<int>(rng() % 2);
    const int side = sides[rng() % 3];
    const int in = channels[rng() % 10], out = channels[rng() % 10];
    // Cap the reference's work per case, keeping batch >= 1.
    const int64_t macs_per_image =
        static_cast<int64_t>(side) * side * in * out * kernel * kernel / (stride * stride);
    int batch = 1 + static_cast<int>(rng() % 8);
    while (batch > 1 && batch * macs_per_image > 40'000'000) --batch;
    const int32_t zero_point = i % 5 == 0 ? static_cast<int32_t>(rng() % 256) : 0;
    const Residual residual = static_cast<Residual>(rng() % 3);
    const bool relu = rng() % 4 != 0;
    const bool u8_output = rng() % 3 != 0;
    const ConvCase c = MakeConvCase(&rng, kernel, stride, side, batch, in, out, zero_point,
                                    residual, relu, u8_output);
    ExpectBitExact(*variant, c);
    if (HasFatalFailure()) return;
  }
}

// How the engine calls kernels: a sub-net's view into one pack of the whole full-width layer
// (SliceTernaryConv), and the output rows split into ranges (one per thread). Both must give the
// same bytes as the reference on the separately repacked slice.
TEST_P(ConvVariantTest, SlicedViewAndRowRangesMatchReference) {
  const TernaryConvKernel* variant = FindTernaryConvKernel(GetParam().c_str());
  ASSERT_NE(variant, nullptr);
  if (!variant->supported()) GTEST_SKIP() << "this CPU lacks " << variant->name;
  std::mt19937 rng(99);
  const int channels[] = {3, 8, 16, 24, 40, 64, 96};
  for (int i = 0; i < 40; ++i) {
    const int kernel = i % 4 == 3 ? 1 : 3;
    const int stride = 1 + static_cast<int>(rng() % 2);
    const int side = i % 2 == 0 ? 7 : 14;
    const int batch = 1 + static_cast<int>(rng() % 5);
    const ConvCase c =
        MakeConvCase(&rng, kernel, stride, side, batch, channels[rng() % 7], channels[rng() % 7],
                     /*zero_point=*/0, static_cast<Residual>(rng() % 3), rng() % 2 == 0, true);
    PackedTernaryConv full;
    ASSERT_TRUE(RepackTernaryConv(c.codes.data(), c.full_out, c.full_in, kernel, c.full_out,
                                  c.full_in, &full));
    TernaryConvWeights view;
    ASSERT_TRUE(SliceTernaryConv(full, c.out_channels, c.in_channels, &view));
    EXPECT_FALSE(view.full_in);

    std::vector<uint8_t> ref, got;
    std::vector<float> unused;
    TernaryConvScalar(c.shape, testing::InputOf(c), c.weights,
                      testing::EpilogueOf(c, &ref, &unused));
    const ConvEpilogue e = testing::EpilogueOf(c, &got, &unused);
    const int64_t rows = c.shape.Rows(kernel);
    const int64_t split = static_cast<int64_t>(rng() % (rows + 1));
    ConvShape first = c.shape, second = c.shape;
    first.row_end = split;
    second.row_begin = split;
    variant->conv(first, testing::InputOf(c), view, e);
    variant->conv(second, testing::InputOf(c), view, e);
    ASSERT_EQ(got, ref) << variant->name << " split at row " << split << ", " << c.Describe();
  }
}

// The tile walk's edge cases (conv_pixel_loop.h): widths that leave a short last tile (out_w % 7),
// tiny and non-square images where every pixel is a border pixel, odd input channel counts
// (channel padding inside the last group), partial last output blocks, both strides and kernels,
// a zero point (also on a sliced view), and batches up to 64, split into 1 to 4 row ranges that
// start and end mid-image, on a sliced view of a wider pack.
TEST_P(ConvVariantTest, TileEdgesRowRangesAndZeroPointMatchReference) {
  const TernaryConvKernel* variant = FindTernaryConvKernel(GetParam().c_str());
  ASSERT_NE(variant, nullptr);
  if (!variant->supported()) GTEST_SKIP() << "this CPU lacks " << variant->name;
  std::mt19937 rng(2024);
  const int channels[] = {1, 2, 3, 5, 7, 13, 16, 17, 33, 48, 50};
  const int sides[] = {1, 2, 3, 5, 6, 8, 9, 13, 15, 16, 29};
  for (int i = 0; i < 80; ++i) {
    const int kernel = i % 3 == 2 ? 1 : 3;
    const int stride = 1 + static_cast<int>(rng() % 2);
    const int side = sides[rng() % 11];
    const int in = channels[rng() % 11], out = channels[rng() % 11];
    const int64_t macs_per_image =
        static_cast<int64_t>(side) * side * in * out * kernel * kernel / (stride * stride);
    int batch = i % 4 == 0 ? 64 : 1 + static_cast<int>(rng() % 9);
    while (batch > 1 && batch * macs_per_image > 8'000'000) --batch;
    const int32_t zero_point = i % 3 == 0 ? static_cast<int32_t>(1 + rng() % 255) : 0;
    ConvCase c = MakeConvCase(&rng, kernel, stride, side, batch, in, out, zero_point,
                              static_cast<Residual>(rng() % 3), rng() % 2 == 0, rng() % 3 != 0);
    // Also rectangular images: a taller one (the width stays `side`).
    if (i % 5 == 4) {
      ConvCase tall = MakeConvCase(&rng, kernel, stride, side, batch, in, out, zero_point,
                                   c.residual, c.relu, c.u8_output);
      tall.shape.in_h = side + 3;
      tall.input.resize(static_cast<size_t>(batch) * tall.shape.in_h * side * PaddedChannels(in));
      for (size_t e = static_cast<size_t>(batch) * side * side * PaddedChannels(in);
           e < tall.input.size(); ++e) {
        tall.input[e] =
            e % PaddedChannels(in) < static_cast<size_t>(in) ? static_cast<uint8_t>(rng()) : 0;
      }
      const int64_t elements = tall.OutElements();
      if (!tall.residual_u8.empty()) {
        tall.residual_u8.assign(elements, 0);
        for (int64_t e = 0; e < elements; ++e) {
          if (e % PaddedChannels(out) < out) tall.residual_u8[e] = static_cast<uint8_t>(rng());
        }
      }
      if (!tall.residual_f32.empty()) tall.residual_f32.assign(elements, 0.5f);
      c = std::move(tall);
    }
    ExpectBitExact(*variant, c);
    if (HasFatalFailure()) return;

    // A sliced view of the full pack, over 1 to 4 row ranges.
    PackedTernaryConv full;
    ASSERT_TRUE(RepackTernaryConv(c.codes.data(), c.full_out, c.full_in, kernel, c.full_out,
                                  c.full_in, &full));
    TernaryConvWeights view;
    ASSERT_TRUE(SliceTernaryConv(full, c.out_channels, c.in_channels, &view));
    std::vector<uint8_t> ref_u8, got_u8;
    std::vector<float> ref_f32, got_f32;
    TernaryConvScalar(c.shape, testing::InputOf(c), c.weights,
                      testing::EpilogueOf(c, &ref_u8, &ref_f32));
    const ConvEpilogue e = testing::EpilogueOf(c, &got_u8, &got_f32);
    const int64_t rows = c.shape.Rows(kernel);
    std::vector<int64_t> cuts = {0, rows};
    for (int j = static_cast<int>(rng() % 4); j > 0; --j) cuts.push_back(rng() % (rows + 1));
    std::sort(cuts.begin(), cuts.end());
    for (size_t j = 0; j + 1 < cuts.size(); ++j) {
      ConvShape part = c.shape;
      part.row_begin = cuts[j];
      part.row_end = cuts[j + 1];
      variant->conv(part, testing::InputOf(c), view, e);
    }
    if (c.u8_output) {
      ASSERT_EQ(got_u8, ref_u8) << variant->name << " view, " << cuts.size() - 1 << " ranges, "
                                << c.Describe();
    } else {
      ASSERT_EQ(std::memcmp(got_f32.data(), ref_f32.data(), ref_f32.size() * sizeof(float)), 0)
          << variant->name << " view, " << cuts.size() - 1 << " ranges, " << c.Describe();
    }
  }
}

// How the engine threads a layer: concurrent calls on disjoint row ranges of one output, on
// several layers in a row (the SIMD variants keep per-thread weight scratch that each call regrows
// or reuses).
TEST_P(ConvVariantTest, ConcurrentRowRangesMatchReference) {
  const TernaryConvKernel* variant = FindTernaryConvKernel(GetParam().c_str());
  ASSERT_NE(variant, nullptr);
  if (!variant->supported()) GTEST_SKIP() << "this CPU lacks " << variant->name;
  std::mt19937 rng(77);
  const int shapes[][4] = {{3, 1, 14, 64}, {3, 2, 14, 96}, {1, 2, 14, 64}, {3, 1, 7, 128}};
  std::vector<ConvCase> cases;
  for (const auto& s : shapes) {
    cases.push_back(
        MakeConvCase(&rng, s[0], s[1], s[2], 3, s[3], s[3] + 8, 0, Residual::kU8, true, true));
  }
  std::vector<std::vector<uint8_t>> refs(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    std::vector<float> unused;
    TernaryConvScalar(cases[i].shape, testing::InputOf(cases[i]), cases[i].weights,
                      testing::EpilogueOf(cases[i], &refs[i], &unused));
  }
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const ConvCase& c = cases[i];
      const std::vector<uint8_t>& ref = refs[i];
      std::vector<uint8_t> got;
      std::vector<float> unused;
      const ConvEpilogue e = testing::EpilogueOf(c, &got, &unused);
      const int64_t rows = c.shape.Rows(c.kernel);
      const int threads = 2 + round;
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          ConvShape part = c.shape;
          part.row_begin = rows * t / threads;
          part.row_end = rows * (t + 1) / threads;
          variant->conv(part, testing::InputOf(c), c.weights, e);
        });
      }
      for (std::thread& w : workers) w.join();
      ASSERT_EQ(got, ref) << variant->name << " " << threads << " threads, " << c.Describe();
    }
  }
}

TEST(SliceTernaryConvTest, RefusesSlicesLargerThanThePack) {
  std::vector<uint8_t> codes(PackedMatrixBytes(16, 8 * 9), 0);
  PackedTernaryConv full;
  ASSERT_TRUE(RepackTernaryConv(codes.data(), 16, 8, 3, 16, 8, &full));
  TernaryConvWeights view;
  EXPECT_FALSE(SliceTernaryConv(full, 17, 8, &view));
  EXPECT_FALSE(SliceTernaryConv(full, 16, 9, &view));
  EXPECT_FALSE(SliceTernaryConv(full, 0, 8, &view));
  ASSERT_TRUE(SliceTernaryConv(full, 16, 8, &view));
  EXPECT_TRUE(view.full_in);
}

// The classifier: a 1x1 conv over a 1x1 image, float logits.
TEST_P(ConvVariantTest, BitExactOnLinear) {
  const TernaryConvKernel* variant = FindTernaryConvKernel(GetParam().c_str());
  ASSERT_NE(variant, nullptr);
  if (!variant->supported()) GTEST_SKIP() << "this CPU lacks " << variant->name;
  std::mt19937 rng(99);
  for (int in : {32, 48, 96, 128}) {
    for (int batch : {1, 5, 8}) {
      const ConvCase c =
          MakeConvCase(&rng, 1, 1, 1, batch, in, 10, 0, Residual::kNone, false, false);
      ExpectBitExact(*variant, c);
      std::vector<uint8_t> unused;
      std::vector<float> ref, got;
      TernaryConvScalar(c.shape, testing::InputOf(c), c.weights,
                        testing::EpilogueOf(c, &unused, &ref));
      TernaryLinear(*variant, batch, testing::InputOf(c), c.weights,
                    testing::EpilogueOf(c, &unused, &got));
      ASSERT_EQ(std::memcmp(ref.data(), got.data(), ref.size() * sizeof(float)), 0);
    }
  }
}

// Accumulators near the extremes: all-255 input, all +1 (then all -1) weights, 128 -> 128 3x3.
TEST_P(ConvVariantTest, BitExactAtAccumulatorExtremes) {
  const TernaryConvKernel* variant = FindTernaryConvKernel(GetParam().c_str());
  ASSERT_NE(variant, nullptr);
  if (!variant->supported()) GTEST_SKIP() << "this CPU lacks " << variant->name;
  std::mt19937 rng(5);
  for (int8_t w : {1, -1}) {
    ConvCase c = MakeConvCase(&rng, 3, 1, 7, 2, 128, 128, 0, Residual::kNone, false, false);
    std::vector<int8_t> t(128 * 128 * 9, w);
    std::vector<uint8_t> codes(PackedMatrixBytes(128, 128 * 9));
    PackTernary(t.data(), 128, 128 * 9, codes.data());
    ASSERT_TRUE(RepackTernaryConv(codes.data(), 128, 128, 3, 128, 128, &c.weights));
    std::fill(c.input.begin(), c.input.end(), 255);
    std::fill(c.multiplier.begin(), c.multiplier.end(), 1.0f);
    std::fill(c.bias.begin(), c.bias.end(), 0.0f);
    ExpectBitExact(*variant, c);
    std::vector<uint8_t> unused;
    std::vector<float> got;
    variant->conv(c.shape, testing::InputOf(c), c.weights, testing::EpilogueOf(c, &unused, &got));
    EXPECT_EQ(got[(3 * 7 + 3) * 128], w * 255.0f * 128 * 9);  // centre pixel: all 9 taps
  }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, ConvVariantTest, ::testing::ValuesIn(VariantNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace ternserve::kernels
