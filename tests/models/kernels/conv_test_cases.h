// Random ternary conv problems and a naive, float-free direct convolution for the kernel tests.
// Test-only; not thread-safe (each test owns its cases).
#ifndef TERNSERVE_TESTS_MODELS_KERNELS_CONV_TEST_CASES_H_
#define TERNSERVE_TESTS_MODELS_KERNELS_CONV_TEST_CASES_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "models/kernels/conv_params.h"
#include "models/kernels/ternary_blocks.h"
#include "models/kernels/ternary_pack.h"

namespace ternserve::kernels::testing {

enum class Residual { kNone, kU8, kF32 };

// One conv problem: plain ternary weights, the bundle-format codes they pack to (at a larger full
// shape, sliced), the kernel layout, a u8 input, and an epilogue's parameters.
struct ConvCase {
  ConvShape shape;
  int kernel = 3;
  int in_channels = 0;
  int out_channels = 0;
  int32_t zero_point = 0;
  std::vector<int8_t> t;       // [out_channels][in_channels][kernel][kernel], the used slice
  PackedTernaryConv weights;   // the used slice, repacked on its own
  std::vector<uint8_t> codes;  // bundle codes of the full layer [full_out][full_in * k * k]
  int full_in = 0, full_out = 0;
  std::vector<uint8_t> input;  // NHWC, channel stride PaddedChannels(in_channels), padding 0
  std::vector<float> multiplier, bias;
  Residual residual = Residual::kNone;
  std::vector<uint8_t> residual_u8;
  std::vector<float> residual_f32;
  float residual_scale = 0.05f;
  bool relu = true;
  bool u8_output = true;
  float out_scale = 0.1f;

  int OutH() const { return shape.OutH(kernel); }
  int OutW() const { return shape.OutW(kernel); }
  int64_t OutElements() const {
    return static_cast<int64_t>(shape.batch) * OutH() * OutW() * PaddedChannels(out_channels);
  }
  std::string Describe() const {
    return "k" + std::to_string(kernel) + " s" + std::to_string(shape.stride) + " " +
           std::to_string(in_channels) + "->" + std::to_string(out_channels) + " " +
           std::to_string(shape.in_h) + "x" + std::to_string(shape.in_w) + " batch " +
           std::to_string(shape.batch) + " z" + std::to_string(zero_point) + " residual " +
           std::to_string(static_cast<int>(residual)) + (relu ? " relu" : "") +
           (u8_output ? " u8" : " f32");
  }
};

// Builds a case: weights are drawn at a full shape (out + extra, in + extra), packed into the
// bundle's 2-bit format and sliced back with RepackTernaryConv, so slicing is exercised too.
inline ConvCase MakeConvCase(std::mt19937* rng, int kernel, int stride, int side, int batch,
                             int in_channels, int out_channels, int32_t zero_point,
                             Residual residual, bool relu, bool u8_output) {
  ConvCase c;
  c.kernel = kernel;
  c.shape.batch = batch;
  c.shape.in_h = side;
  c.shape.in_w = side;
  c.shape.stride = stride;
  c.in_channels = in_channels;
  c.out_channels = out_channels;
  c.zero_point = zero_point;
  c.residual = residual;
  c.relu = relu;
  c.u8_output = u8_output;
  const int taps = kernel * kernel;
  const int full_in = in_channels + 5, full_out = out_channels + 3;
  std::uniform_int_distribution<int> ternary(-1, 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);

  std::vector<int8_t> full(static_cast<size_t>(full_out) * full_in * taps);
  for (int8_t& w : full) w = static_cast<int8_t>(ternary(*rng));
  c.full_in = full_in;
  c.full_out = full_out;
  c.codes.assign(PackedMatrixBytes(full_out, static_cast<int64_t>(full_in) * taps), 0);
  PackTernary(full.data(), full_out, static_cast<int64_t>(full_in) * taps, c.codes.data());
  RepackTernaryConv(c.codes.data(), full_out, full_in, kernel, out_channels, in_channels,
                    &c.weights);
  c.t.resize(static_cast<size_t>(out_channels) * in_channels * taps);
  for (int o = 0; o < out_channels; ++o) {
    for (int i = 0; i < in_channels * taps; ++i) {
      c.t[static_cast<size_t>(o) * in_channels * taps + i] =
          full[static_cast<size_t>(o) * full_in * taps + i];
    }
  }

  const int in_stride = PaddedChannels(in_channels);
  c.input.assign(static_cast<size_t>(batch) * side * side * in_stride, 0);
  for (size_t p = 0; p < c.input.size() / in_stride; ++p) {
    for (int ch = 0; ch < in_channels; ++ch) {
      c.input[p * in_stride + ch] = static_cast<uint8_t>(byte(*rng));
    }
  }
  c.multiplier.resize(out_channels);
  c.bias.resize(out_channels);
  for (int o = 0; o < out_channels; ++o) {
    c.multiplier[o] = (0.2f + unit(*rng)) * 0.002f;
    c.bias[o] = (unit(*rng) - 0.4f) * 4.0f;
  }
  const int64_t out_elements = c.OutElements();
  const int out_stride = PaddedChannels(out_channels);
  if (residual == Residual::kU8) {
    c.residual_u8.assign(out_elements, 0);
    for (int64_t e = 0; e < out_elements; ++e) {
      if (e % out_stride < out_channels) c.residual_u8[e] = static_cast<uint8_t>(byte(*rng));
    }
  } else if (residual == Residual::kF32) {
    c.residual_f32.assign(out_elements, 0.0f);
    for (int64_t e = 0; e < out_elements; ++e) {
      if (e % out_stride < out_channels) c.residual_f32[e] = (unit(*rng) - 0.5f) * 6.0f;
    }
  }
  c.out_scale = 0.02f + unit(*rng) * 0.05f;
  return c;
}

inline ConvInput InputOf(const ConvCase& c) {
  ConvInput in;
  in.data = c.input.data();
  in.zero_point = c.zero_point;
  return in;
}

// Epilogue of the case writing into `out_u8` or `out_f32` (whichever the case selects).
inline ConvEpilogue EpilogueOf(const ConvCase& c, std::vector<uint8_t>* out_u8,
                               std::vector<float>* out_f32) {
  ConvEpilogue e;
  e.multiplier = c.multiplier.data();
  e.bias = c.bias.data();
  if (c.residual == Residual::kU8) e.residual_u8 = c.residual_u8.data();
  if (c.residual == Residual::kF32) e.residual_f32 = c.residual_f32.data();
  e.residual_scale = c.residual_scale;
  e.relu = c.relu;
  e.out_scale = c.out_scale;
  if (c.u8_output) {
    out_u8->assign(c.OutElements(), 0xAB);  // poison: every byte must be written
    e.out_u8 = out_u8->data();
  } else {
    out_f32->assign(c.OutElements(), -12345.0f);
    e.out_f32 = out_f32->data();
  }
  return e;
}

// The accumulator of conv_params.h by its definition: integers only, zero padding as real 0.
inline std::vector<int32_t> NaiveAccumulators(const ConvCase& c) {
  const int k = c.kernel, pad = k / 2, oh = c.OutH(), ow = c.OutW();
  const int in_stride = PaddedChannels(c.in_channels);
  std::vector<int32_t> acc(static_cast<size_t>(c.shape.batch) * oh * ow * c.out_channels, 0);
  size_t index = 0;
  for (int n = 0; n < c.shape.batch; ++n) {
    for (int oy = 0; oy < oh; ++oy) {
      for (int ox = 0; ox < ow; ++ox) {
        for (int o = 0; o < c.out_channels; ++o, ++index) {
          int32_t sum = 0;
          for (int i = 0; i < c.in_channels; ++i) {
            for (int ky = 0; ky < k; ++ky) {
              for (int kx = 0; kx < k; ++kx) {
                const int iy = oy * c.shape.stride - pad + ky;
                const int ix = ox * c.shape.stride - pad + kx;
                if (iy < 0 || iy >= c.shape.in_h || ix < 0 || ix >= c.shape.in_w) continue;
                const int32_t x =
                    c.input[((static_cast<size_t>(n) * c.shape.in_h + iy) * c.shape.in_w + ix) *
                                in_stride +
                            i];
                sum += c.t[((static_cast<size_t>(o) * c.in_channels + i) * k + ky) * k + kx] *
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

}  // namespace ternserve::kernels::testing

#endif  // TERNSERVE_TESTS_MODELS_KERNELS_CONV_TEST_CASES_H_
