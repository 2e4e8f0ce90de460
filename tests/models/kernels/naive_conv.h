// The ternary conv by its definition (models/kernels/conv_params.h), written independently of the
// kernels for the tests: nested loops over plain int8 weights in [out][in][ky][kx] order, int32
// sums, zero padding as real 0, then the epilogue's float steps spelled out in the documented
// order. Shares no code with conv_scalar.cc (not EpilogueValue, not RequantizeU8, not the weight
// blocks), so the scalar reference can be checked against it. Test-only; pure functions.
#ifndef TERNSERVE_TESTS_MODELS_KERNELS_NAIVE_CONV_H_
#define TERNSERVE_TESTS_MODELS_KERNELS_NAIVE_CONV_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "models/kernels/conv_cases.h"

namespace ternserve::kernels::testing {

// acc[n][oy][ox][o] for o < out_channels (no channel padding).
inline std::vector<int32_t> NaiveAccumulators(const ConvProblem& p) {
  const ConvCase& c = p.spec;
  const int k = c.kernel, pad = k / 2, oh = c.OutH(), ow = c.OutW();
  const int in_stride = (c.in_channels + 3) / 4 * 4;
  std::vector<int32_t> acc(static_cast<size_t>(c.batch) * oh * ow * c.out_channels, 0);
  size_t index = 0;
  for (int n = 0; n < c.batch; ++n) {
    for (int oy = 0; oy < oh; ++oy) {
      for (int ox = 0; ox < ow; ++ox) {
        for (int o = 0; o < c.out_channels; ++o, ++index) {
          int32_t sum = 0;
          for (int i = 0; i < c.in_channels; ++i) {
            for (int ky = 0; ky < k; ++ky) {
              for (int kx = 0; kx < k; ++kx) {
                const int iy = oy * c.stride - pad + ky;
                const int ix = ox * c.stride - pad + kx;
                if (iy < 0 || iy >= c.in_h || ix < 0 || ix >= c.in_w) continue;
                const int32_t x =
                    p.input[((static_cast<size_t>(n) * c.in_h + iy) * c.in_w + ix) * in_stride + i];
                sum += p.t[((static_cast<size_t>(o) * c.in_channels + i) * k + ky) * k + kx] *
                       (x - c.zero_point);
              }
            }
          }
          acc[index] = sum;
        }
      }
    }
  }
  return acc;
}

// The whole output, channel padding included (0), as u8 or float (the case's output type).
struct NaiveOutput {
  std::vector<uint8_t> u8;
  std::vector<float> f32;
};

inline NaiveOutput NaiveConv(const ConvProblem& p) {
  const ConvCase& c = p.spec;
  const std::vector<int32_t> acc = NaiveAccumulators(p);
  const int64_t elements = p.OutElements();
  const int out_stride = (c.out_channels + 3) / 4 * 4;
  NaiveOutput out;
  if (c.u8_output) {
    out.u8.assign(elements, 0);
  } else {
    out.f32.assign(elements, 0.0f);
  }
  const float inv_out_scale = 1.0f / p.out_scale;
  for (int64_t e = 0; e < elements; ++e) {
    const int o = static_cast<int>(e % out_stride);
    if (o >= c.out_channels) continue;
    const int32_t a = acc[e / out_stride * c.out_channels + o];
    float y = static_cast<float>(a) * p.multiplier[o];
    y = y + p.bias[o];
    if (c.residual == Residual::kU8) {
      y = y + static_cast<float>(p.residual_u8[e]) * p.residual_scale;
    } else if (c.residual == Residual::kF32) {
      y = y + p.residual_f32[e];
    }
    if (c.relu && !(y > 0.0f)) y = 0.0f;
    if (c.u8_output) {
      float q = y * inv_out_scale;
      if (!(q > 0.0f)) q = 0.0f;
      if (q > 255.0f) q = 255.0f;
      out.u8[e] = static_cast<uint8_t>(std::nearbyint(q));
    } else {
      out.f32[e] = y;
    }
  }
  return out;
}

}  // namespace ternserve::kernels::testing

#endif  // TERNSERVE_TESTS_MODELS_KERNELS_NAIVE_CONV_H_
