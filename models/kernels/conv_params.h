// The contract every ternary conv / linear kernel variant implements, bit for bit.
//
// Tensors. Activations are NHWC with channel stride PaddedChannels(C) (ternary_blocks.h), for u8
// and float alike; kernels write zeros into the padding channels of their output.
//
// Integer result. For output pixel (n, oy, ox) and output channel o, with pad = kernel / 2,
// iy = oy * stride - pad + ky, ix = ox * stride - pad + kx and z = ConvInput::zero_point:
//
//   acc[n][oy][ox][o] = sum over taps (ky, kx) with (iy, ix) inside the input,
//                       sum over ci < in_channels of  w[o][ci][ky][kx] * (x[n][iy][ix][ci] - z)
//
// computed in int32 (|acc| <= 255 * in_channels * 9 < 2^19: no overflow, no int16 anywhere).
// Out-of-bounds taps are zero padding in real-value space, i.e. x = z, so they add nothing.
//
// Float epilogue, in exactly this order (each step one IEEE float op, no FMA contraction: the
// kernels' TUs build with -ffp-contract=off), per output element:
//
//   y = float(acc) * multiplier[o]           (float(int32) rounds to nearest)
//   y = y + bias[o]
//   y = y + float(residual_u8) * residual_scale   or   y = y + residual_f32   (if given)
//   y = y > 0 ? y : 0                         (if relu; NaN -> 0, -0 -> +0)
//   float output:  out_f32 = y
//   u8 output:     q = y * (1.0f / out_scale); q = q > 0 ? q : 0; q = q < 255 ? q : 255;
//                  out_u8 = round-half-to-even(q)
//
// multiplier[o] = weight scale[o] * input scale * folded-BN scale[o]; bias[o] = folded-BN shift.
// Thread-safety: plain structs; kernels only read the inputs and write `out_*`.
#ifndef TERNSERVE_MODELS_KERNELS_CONV_PARAMS_H_
#define TERNSERVE_MODELS_KERNELS_CONV_PARAMS_H_

#include <cmath>
#include <cstdint>

namespace ternserve::kernels {

struct ConvShape {
  int batch = 1;
  int in_h = 0;
  int in_w = 0;
  int stride = 1;  // 1 or 2; padding is kernel / 2 (so 1 for 3x3, 0 for 1x1)

  // The output rows to compute, as a range of the flattened (n, oy) index n * OutH + oy; row_end
  // -1 means all rows. Threads split a conv by giving each a disjoint range.
  int64_t row_begin = 0;
  int64_t row_end = -1;

  int OutH(int kernel) const { return (in_h + 2 * (kernel / 2) - kernel) / stride + 1; }
  int OutW(int kernel) const { return (in_w + 2 * (kernel / 2) - kernel) / stride + 1; }
  int64_t Rows(int kernel) const { return static_cast<int64_t>(batch) * OutH(kernel); }
  int64_t RowEnd(int kernel) const { return row_end < 0 ? Rows(kernel) : row_end; }
};

struct ConvInput {
  const uint8_t* data = nullptr;  // [batch][in_h][in_w][PaddedChannels(in_channels)]
  // The u8 value that represents real 0: 0 after a ReLU; the stem's is QuantizeStemInput's.
  int32_t zero_point = 0;
};

struct ConvEpilogue {
  const float* multiplier = nullptr;  // [out_channels]
  const float* bias = nullptr;        // [out_channels]
  // Optional residual, same shape and stride as the output; at most one of the two.
  const uint8_t* residual_u8 = nullptr;
  float residual_scale = 1.0f;
  const float* residual_f32 = nullptr;
  bool relu = true;
  // Exactly one output.
  uint8_t* out_u8 = nullptr;  // requantized with out_scale
  float out_scale = 1.0f;
  float* out_f32 = nullptr;
};

// The epilogue before the output conversion, as every variant must compute it (see above).
inline float EpilogueValue(int32_t acc, int o, int64_t element, const ConvEpilogue& e) {
  float y = static_cast<float>(acc) * e.multiplier[o];
  y = y + e.bias[o];
  if (e.residual_u8 != nullptr) {
    y = y + static_cast<float>(e.residual_u8[element]) * e.residual_scale;
  } else if (e.residual_f32 != nullptr) {
    y = y + e.residual_f32[element];
  }
  if (e.relu) y = y > 0.0f ? y : 0.0f;
  return y;
}

// u8 requantization; `inv_out_scale` is 1.0f / out_scale computed once per call.
inline uint8_t RequantizeU8(float y, float inv_out_scale) {
  float q = y * inv_out_scale;
  q = q > 0.0f ? q : 0.0f;
  q = q < 255.0f ? q : 255.0f;
  return static_cast<uint8_t>(std::nearbyint(q));  // default rounding mode: half to even
}

// Stem input quantization. The model sees x = (p - mean) / std of a pixel p in [0, 1], and the
// stem's zero padding is real 0 in that normalized space (as in PyTorch), i.e. p = mean. We use
// ordinary asymmetric quantization, x ~= scale * (q - zero_point), with scale = 1 / (255 * std)
// (one step per raw 8-bit grey level) and zero_point = round(255 * mean), so real 0 is exactly
// representable: padding taps are exactly x = 0 and acc's "- z" term is exact integer arithmetic
// (folding the normalization into a per-channel bias instead would be wrong at the borders, where
// fewer taps are in bounds). The price is at most half a step of error per pixel, the usual
// quantization error. The stem's multiplier is then weight scale * `scale` * BN scale.
struct StemQuantization {
  float scale = 1.0f;
  int32_t zero_point = 0;
};
StemQuantization StemInputQuantization(float mean, float std);
// Writes q = clamp(round(x / scale) + zero_point, 0, 255) for x = (p - mean) / std into
// out[pixels * kChannelAlign] (1 channel padded to kChannelAlign; padding zeroed).
void QuantizeStemInput(const float* pixels, int64_t count, float mean, float std,
                       const StemQuantization& q, uint8_t* out);

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_CONV_PARAMS_H_
