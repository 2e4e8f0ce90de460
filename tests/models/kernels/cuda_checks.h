// What the CUDA kernel tests share (the CPU emulation test and the device test): random conv cases
// beyond the case list, the engine's average pool as the reference of the pool kernel, and the
// stem quantization's edge inputs. Test-only; pure functions.
#ifndef TERNSERVE_TESTS_MODELS_KERNELS_CUDA_CHECKS_H_
#define TERNSERVE_TESTS_MODELS_KERNELS_CUDA_CHECKS_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "models/kernels/conv_cases.h"
#include "models/kernels/ternary_blocks.h"

namespace ternserve::kernels::testing {

// `count` random cases (fixed seed): channels among 1, 3, 5, 17, 33, 127, 128, kernel 1 or 3,
// stride 1 or 2, sides 1 to 16 (not square), batch 1 to 64 capped at max_macs, zero point 0 or
// not, every residual, ReLU on and off, u8 and f32 outputs.
inline std::vector<ConvCase> RandomConvCases(int count, uint32_t seed, int64_t max_macs) {
  static const int kChannels[] = {1, 3, 5, 17, 33, 127, 128};
  std::mt19937 rng(seed);
  std::vector<ConvCase> cases;
  for (int n = 0; n < count; ++n) {
    ConvCase c;
    c.name = "random." + std::to_string(n);
    // One draw per statement: the order of a call's arguments is unspecified.
    c.kernel = rng() % 2 == 0 ? 3 : 1;
    c.stride = 1 + static_cast<int>(rng() % 2);
    c.in_h = 1 + static_cast<int>(rng() % 16);
    c.in_w = 1 + static_cast<int>(rng() % 16);
    c.in_channels = kChannels[rng() % 7];
    c.out_channels = kChannels[rng() % 7];
    c.batch = 1 + static_cast<int>(rng() % 64);
    c.zero_point = rng() % 3 == 0 ? static_cast<int32_t>(1 + rng() % 255) : 0;
    c.residual = static_cast<Residual>(rng() % 3);
    c.relu = rng() % 2 == 0;
    c.u8_output = rng() % 2 == 0;
    while (c.batch > 1 && c.Macs(c.batch) > max_macs) --c.batch;
    cases.push_back(c);
  }
  return cases;
}

// The classifier as the engines run it: a 1x1 conv over a 1x1 image from `in` pooled channels to
// the 10 classes, fp32 logits, no ReLU.
inline ConvCase LinearCase(int in) {
  ConvCase c;
  c.name = "fc";
  c.kernel = 1;
  c.in_h = c.in_w = 1;
  c.in_channels = in;
  c.out_channels = 10;
  c.relu = false;
  c.u8_output = false;
  return c;
}

// (mean, std) pairs the stem quantization is tested with: the data set's, and edge ones.
inline constexpr float kStemMeanStd[][2] = {
    {0.2860f, 0.3530f}, {0.5f, 0.5f}, {0.0f, 1.0f}, {1.0f, 0.25f}};

// ternary_engine.cc's global average pool of h[batch][pixels][PaddedChannels(channels)], written
// out independently of the kernel body: out[batch][PaddedChannels(channels)], padding 0.
inline std::vector<uint8_t> ReferenceAveragePoolU8(const std::vector<uint8_t>& h, int batch,
                                                   int pixels, int channels, float to_pool) {
  const int stride = PaddedChannels(channels);
  std::vector<uint8_t> out(static_cast<size_t>(batch) * stride, 0);
  for (int n = 0; n < batch; ++n) {
    for (int c = 0; c < channels; ++c) {
      int32_t sum = 0;
      const uint8_t* src = h.data() + static_cast<size_t>(n) * pixels * stride + c;
      for (int p = 0; p < pixels; ++p) sum += src[static_cast<size_t>(p) * stride];
      float q = static_cast<float>(sum) * to_pool;
      q = std::min(std::max(q, 0.0f), 255.0f);
      out[static_cast<size_t>(n) * stride + c] = static_cast<uint8_t>(std::nearbyint(q));
    }
  }
  return out;
}

// Random u8 features with zero padding channels.
inline std::vector<uint8_t> RandomFeatures(int batch, int pixels, int channels, std::mt19937* rng) {
  const int stride = PaddedChannels(channels);
  std::vector<uint8_t> h(static_cast<size_t>(batch) * pixels * stride, 0);
  for (size_t i = 0; i < h.size(); ++i) {
    if (static_cast<int>(i % stride) < channels) h[i] = static_cast<uint8_t>((*rng)() & 0xFF);
  }
  return h;
}

// Stem pixels: random values in [0, 1], then the edges (0, 1, the mean, just around it, outside
// [0, 1], and values whose quantization lands on a half step).
inline std::vector<float> StemPixels(int count, float mean, std::mt19937* rng) {
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> pixels(count);
  for (float& p : pixels) p = unit(*rng);
  const float edges[] = {0.0f,
                         1.0f,
                         mean,
                         std::nextafter(mean, 0.0f),
                         std::nextafter(mean, 1.0f),
                         -3.0f,
                         40.0f,
                         0.5f / 255.0f,
                         1.5f / 255.0f,
                         2.5f / 255.0f,
                         127.5f / 255.0f};
  for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) && i < pixels.size(); ++i) {
    pixels[i] = edges[i];
  }
  return pixels;
}

}  // namespace ternserve::kernels::testing

#endif  // TERNSERVE_TESTS_MODELS_KERNELS_CUDA_CHECKS_H_
