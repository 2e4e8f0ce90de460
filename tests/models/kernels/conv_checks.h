// What the kernel tests share: the scalar reference's output of a case, a bit-for-bit comparison
// of two conv outputs, and the split of a conv into row ranges (how the engine threads a layer).
// Test-only.
#ifndef TERNSERVE_TESTS_MODELS_KERNELS_CONV_CHECKS_H_
#define TERNSERVE_TESTS_MODELS_KERNELS_CONV_CHECKS_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/conv_cases.h"
#include "models/kernels/conv_kernels.h"

namespace ternserve::kernels::testing {

// A conv's output: u8 or f32, as the case asks (the other stays empty).
struct Output {
  std::vector<uint8_t> u8;
  std::vector<float> f32;
};

// What the scalar reference (TernaryConvScalar) computes for `p`: what every variant must match.
inline Output RunScalar(const ConvProblem& p) {
  Output out;
  TernaryConvScalar(p.shape, p.Input(), p.weights, p.Epilogue(&out.u8, &out.f32));
  return out;
}

// Success if `got` and `want` hold the same bytes in the case's output (u8, or float compared as
// bits: -0 differs from +0); else the first differing element, with its pixel and channel.
inline ::testing::AssertionResult SameOutput(const ConvProblem& p,
                                             const std::vector<uint8_t>& got_u8,
                                             const std::vector<float>& got_f32,
                                             const std::vector<uint8_t>& want_u8,
                                             const std::vector<float>& want_f32) {
  const int64_t elements = p.OutElements();
  const bool u8 = p.spec.u8_output;
  if ((u8 ? got_u8.size() : got_f32.size()) != static_cast<size_t>(elements) ||
      (u8 ? want_u8.size() : want_f32.size()) != static_cast<size_t>(elements)) {
    return ::testing::AssertionFailure() << "output sizes differ from " << elements;
  }
  const int out_stride = PaddedChannels(p.spec.out_channels);
  for (int64_t e = 0; e < elements; ++e) {
    bool same;
    if (u8) {
      same = got_u8[e] == want_u8[e];
    } else {
      uint32_t got, want;
      std::memcpy(&got, &got_f32[e], sizeof(got));
      std::memcpy(&want, &want_f32[e], sizeof(want));
      same = got == want;
    }
    if (!same) {
      auto failure = ::testing::AssertionFailure();
      failure << "element " << e << " (pixel " << e / out_stride << ", channel " << e % out_stride
              << "): got ";
      if (u8) {
        failure << int{got_u8[e]} << ", want " << int{want_u8[e]};
      } else {
        failure << got_f32[e] << ", want " << want_f32[e];
      }
      return failure;
    }
  }
  return ::testing::AssertionSuccess();
}

// 1 to 4 ranges [cuts[j], cuts[j + 1]) covering rows [0, rows), cut anywhere (mid-image too, and
// empty ranges).
inline std::vector<int64_t> RowCuts(int64_t rows, std::mt19937* rng) {
  std::vector<int64_t> cuts = {0, rows};
  for (int j = static_cast<int>((*rng)() % 4); j > 0; --j) cuts.push_back((*rng)() % (rows + 1));
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

// `shape` limited to rows [begin, end).
inline ConvShape Rows(ConvShape shape, int64_t begin, int64_t end) {
  shape.row_begin = begin;
  shape.row_end = end;
  return shape;
}

}  // namespace ternserve::kernels::testing

#endif  // TERNSERVE_TESTS_MODELS_KERNELS_CONV_CHECKS_H_
