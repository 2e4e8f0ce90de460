// Every SIMD variant of the ternary conv table against the scalar reference, bit for bit, on every
// case of the case list (models/kernels/conv_cases.h): the whole shape, a sub-net's sliced view
// over row ranges, concurrent row ranges, the classifier, and accumulator extremes. The scalar
// reference itself is checked against a naive convolution in conv_scalar_test.cc. A variant this
// CPU lacks is skipped, naming the variant and the features it lacks.
#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/conv_cases.h"
#include "models/kernels/conv_kernels.h"
#include "models/kernels/cpu_features.h"
#include "models/kernels/ternary_pack.h"
#include "tests/models/kernels/conv_checks.h"

namespace ternserve::kernels {
namespace {

using testing::Output;
using testing::RowCuts;
using testing::Rows;
using testing::RunScalar;
using testing::SameOutput;

// Every variant but the reference (table entry 0, "scalar").
std::vector<std::string> SimdVariantNames() {
  size_t count = 0;
  const TernaryConvKernel* table = TernaryConvKernels(&count);
  std::vector<std::string> names;
  for (size_t i = 1; i < count; ++i) names.push_back(table[i].name);
  return names;
}

class ConvVariantTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    variant_ = FindTernaryConvKernel(GetParam().c_str());
    ASSERT_NE(variant_, nullptr);
    const std::string missing = MissingCpuFeatures(DetectCpuFeatures(), variant_->required);
    if (!missing.empty()) GTEST_SKIP() << variant_->name << ": this CPU lacks " << missing;
  }
  const TernaryConvKernel* variant_ = nullptr;
};

// The whole shape on the slice repacked on its own, then a sliced view of the wider pack (how the
// engine calls a sub-net's layer) over 1 to 4 row ranges (how it threads one); layers also at
// batch 1, where the AVX-512 variant expands its weights in registers instead of a scratch.
TEST_P(ConvVariantTest, BitExactWithScalarOnEveryCase) {
  std::mt19937 rng(99);
  uint32_t seed = 1;
  for (const ConvCase& c : ConvCases()) {
    std::vector<int> batches = {c.batch};
    if (c.layer) batches.push_back(1);
    for (int batch : batches) {
      const ConvProblem p = MakeConvProblem(c, batch, seed++);
      const Output want = RunScalar(p);
      Output got;
      variant_->conv(p.shape, p.Input(), p.weights, p.Epilogue(&got.u8, &got.f32));
      ASSERT_TRUE(SameOutput(p, got.u8, got.f32, want.u8, want.f32))
          << variant_->name << ", " << p.spec.Describe();

      PackedTernaryConv full;
      ASSERT_TRUE(RepackTernaryConv(p.codes.data(), p.full_out, p.full_in, c.kernel, p.full_out,
                                    p.full_in, &full));
      TernaryConvWeights view;
      ASSERT_TRUE(SliceTernaryConv(full, c.out_channels, c.in_channels, &view));
      ASSERT_FALSE(view.full_in);
      const ConvEpilogue e = p.Epilogue(&got.u8, &got.f32);
      const std::vector<int64_t> cuts = RowCuts(p.shape.Rows(c.kernel), &rng);
      for (size_t j = 0; j + 1 < cuts.size(); ++j) {
        variant_->conv(Rows(p.shape, cuts[j], cuts[j + 1]), p.Input(), view, e);
      }
      ASSERT_TRUE(SameOutput(p, got.u8, got.f32, want.u8, want.f32))
          << variant_->name << ", sliced view, " << cuts.size() - 1 << " row ranges, "
          << p.spec.Describe();
    }
  }
}

// How the engine threads a layer: concurrent calls on disjoint row ranges of one output, layer
// after layer (the SIMD variants keep per-thread weight scratch that each call regrows or reuses).
TEST_P(ConvVariantTest, ConcurrentRowRangesOnLayersMatchScalar) {
  std::vector<ConvProblem> problems;
  std::vector<Output> wants;
  for (const ConvCase& c : ConvCases()) {
    if (!c.layer) continue;
    problems.push_back(MakeConvProblem(c, c.batch, 77));
    wants.push_back(RunScalar(problems.back()));
  }
  ASSERT_FALSE(problems.empty());
  for (int threads = 2; threads <= 4; ++threads) {
    for (size_t i = 0; i < problems.size(); ++i) {
      const ConvProblem& p = problems[i];
      Output got;
      const ConvEpilogue e = p.Epilogue(&got.u8, &got.f32);
      const int64_t rows = p.shape.Rows(p.spec.kernel);
      std::vector<std::thread> workers;
      for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
          variant_->conv(Rows(p.shape, rows * t / threads, rows * (t + 1) / threads), p.Input(),
                         p.weights, e);
        });
      }
      for (std::thread& w : workers) w.join();
      ASSERT_TRUE(SameOutput(p, got.u8, got.f32, wants[i].u8, wants[i].f32))
          << variant_->name << ", " << threads << " threads, " << p.spec.Describe();
    }
  }
}

// The classifier cases through TernaryLinear, the entry point the engine uses for them.
TEST_P(ConvVariantTest, LinearMatchesScalarConvOnClassifierCases) {
  int checked = 0;
  for (const ConvCase& c : ConvCases()) {
    if (c.in_h != 1 || c.in_w != 1 || c.kernel != 1) continue;
    const ConvProblem p = MakeConvProblem(c, c.batch, 5);
    const Output want = RunScalar(p);
    Output got;
    TernaryLinear(*variant_, c.batch, p.Input(), p.weights, p.Epilogue(&got.u8, &got.f32));
    ASSERT_TRUE(SameOutput(p, got.u8, got.f32, want.u8, want.f32))
        << variant_->name << ", " << c.Describe();
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

// Accumulators at their extremes: all-255 input, all +1 (then all -1) weights, on the largest
// layer (128 -> 128 3x3); the centre pixel sums all 9 taps.
TEST_P(ConvVariantTest, BitExactAtAccumulatorExtremes) {
  const auto largest = std::find_if(ConvCases().begin(), ConvCases().end(),
                                    [](const ConvCase& c) { return c.name == "s2.b0.conv2"; });
  ASSERT_NE(largest, ConvCases().end());
  ConvCase c = *largest;
  c.residual = Residual::kNone;
  c.relu = false;
  c.u8_output = false;
  for (int8_t w : {1, -1}) {
    ConvProblem p = MakeConvProblem(c, 2, 5);
    std::vector<int8_t> t(128 * 128 * 9, w);
    std::vector<uint8_t> codes(PackedMatrixBytes(128, 128 * 9));
    ASSERT_TRUE(PackTernary(t.data(), 128, 128 * 9, codes.data()));
    ASSERT_TRUE(RepackTernaryConv(codes.data(), 128, 128, 3, 128, 128, &p.weights));
    std::fill(p.input.begin(), p.input.end(), 255);
    std::fill(p.multiplier.begin(), p.multiplier.end(), 1.0f);
    std::fill(p.bias.begin(), p.bias.end(), 0.0f);
    const Output want = RunScalar(p);
    Output got;
    variant_->conv(p.shape, p.Input(), p.weights, p.Epilogue(&got.u8, &got.f32));
    ASSERT_TRUE(SameOutput(p, got.u8, got.f32, want.u8, want.f32)) << variant_->name;
    EXPECT_EQ(got.f32[(3 * 7 + 3) * 128], w * 255.0f * 128 * 9);
  }
}

INSTANTIATE_TEST_SUITE_P(SimdVariants, ConvVariantTest, ::testing::ValuesIn(SimdVariantNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace ternserve::kernels
