// AVX2 variant of the ternary conv (conv_kernels.h), for CPUs without AVX-512 VNNI.
//
// vpmaddubsw multiplies u8 activations by s8 weights and adds adjacent pairs into int16 with
// signed saturation. It cannot saturate here: weights are ternary, so a pair is at most
// 255 * 1 + 255 * 1 = 510 in magnitude, far inside int16. vpmaddwd by 1 then adds the two pairs of
// each dword exactly into int32, giving vpdpbusd's 4-product dword without the accumulate, and the
// accumulation stays int32. A WeightBlock is two ymm halves (output lanes 0-7 and 8-15); up to 4
// blocks share each broadcast activation dword.
//
// Function-level target attributes only (the library runs on any x86-64). Bit-exact with the
// scalar reference: the integer sums are exact and the float epilogue is conv_params.h's, op for
// op (the TU builds with -ffp-contract=off, so no FMA is formed).
#include <immintrin.h>

#include <cstring>

#include "models/kernels/conv_kernels.h"
#include "models/kernels/conv_pixel_loop.h"

// GCC 12's intrinsic headers self-initialise their "undefined" vectors, which
// -Wmaybe-uninitialized flags once they are inlined here; the values are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define TERNSERVE_AVX2 __attribute__((target("avx2")))

namespace ternserve::kernels {
namespace {

constexpr int kHalf = kBlockOut / 2;  // int32 lanes per ymm

inline int Clamp8(int n) { return n < 0 ? 0 : (n > kHalf ? kHalf : n); }

// Epilogue of output channels c0 .. c0 + 7.
TERNSERVE_AVX2 inline void StoreHalf(__m256i acc, int c0, int64_t element,
                                     const TernaryConvWeights& weights, const ConvEpilogue& e,
                                     float inv_out_scale) {
  const int valid = Clamp8(weights.out_channels - c0);
  const int stored = Clamp8(PaddedChannels(weights.out_channels) - c0);
  if (stored == 0) return;
  const __m256i lane_mask =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256 zero = _mm256_setzero_ps();

  __m256 y =
      _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_maskload_ps(e.multiplier + c0, lane_mask));
  y = _mm256_add_ps(y, _mm256_maskload_ps(e.bias + c0, lane_mask));
  if (e.residual_u8 != nullptr) {
    uint8_t r8[16] = {};
    std::memcpy(r8, e.residual_u8 + element, valid);
    const __m256i r32 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(r8)));
    y = _mm256_add_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(r32), _mm256_set1_ps(e.residual_scale)));
  } else if (e.residual_f32 != nullptr) {
    y = _mm256_add_ps(y, _mm256_maskload_ps(e.residual_f32 + element, lane_mask));
  }
  // max_ps(a, b) is a > b ? a : b, exactly the scalar `y > 0 ? y : 0` (NaN and -0 included).
  if (e.relu) y = _mm256_max_ps(y, zero);
  if (e.out_u8 != nullptr) {
    __m256 q = _mm256_mul_ps(y, _mm256_set1_ps(inv_out_scale));
    q = _mm256_max_ps(q, zero);
    q = _mm256_min_ps(q, _mm256_set1_ps(255.0f));
    const __m256i q32 = _mm256_cvtps_epi32(q);  // MXCSR: round to nearest even
    // 0..255 in every lane, so the saturating packs are exact.
    const __m128i q16 =
        _mm_packs_epi32(_mm256_castsi256_si128(q32), _mm256_extracti128_si256(q32, 1));
    const __m128i q8 = _mm_packus_epi16(q16, q16);
    uint8_t bytes[16];
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bytes), q8);
    std::memcpy(e.out_u8 + element, bytes, stored);
  } else {
    // Lanes past out_channels are 0 (zero weights, masked-to-zero multiplier, bias, residual).
    float values[kHalf];
    _mm256_storeu_ps(values, y);
    std::memcpy(e.out_f32 + element, values, stored * sizeof(float));
  }
}

template <int kBlocks>
TERNSERVE_AVX2 void ConvPixel(const InBoundsTap* taps, int num_taps, int ob0, int32_t zero_point,
                              int64_t element, const TernaryConvWeights& weights,
                              const ConvEpilogue& e, float inv_out_scale) {
  __m256i acc[2 * kBlocks];
  for (int h = 0; h < 2 * kBlocks; ++h) acc[h] = _mm256_setzero_si256();
  const __m256i ones16 = _mm256_set1_epi16(1);
  const int groups = weights.in_groups;
  for (int t = 0; t < num_taps; ++t) {
    const uint8_t* px = taps[t].pixel;
    const WeightBlock* w[kBlocks];
    for (int b = 0; b < kBlocks; ++b) w[b] = weights.Block(ob0 + b, taps[t].tap, 0);
    for (int ig = 0; ig < groups; ++ig) {
      int32_t quad;
      std::memcpy(&quad, px + ig * kBlockIn, sizeof(quad));
      const __m256i a = _mm256_set1_epi32(quad);
      for (int b = 0; b < kBlocks; ++b) {
        const __m256i* half = reinterpret_cast<const __m256i*>(w[b] + ig);
        for (int h = 0; h < 2; ++h) {
          const __m256i pairs = _mm256_maddubs_epi16(a, _mm256_load_si256(half + h));
          acc[2 * b + h] = _mm256_add_epi32(acc[2 * b + h], _mm256_madd_epi16(pairs, ones16));
        }
      }
    }
    if (zero_point != 0) {
      // sum w * (x - z) = sum w * x - z * sum w, over this in-bounds tap.
      const __m256i z = _mm256_set1_epi32(zero_point);
      for (int b = 0; b < kBlocks; ++b) {
        const int32_t* sums = weights.TapSums(ob0 + b, taps[t].tap);
        for (int h = 0; h < 2; ++h) {
          const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sums + h * kHalf));
          acc[2 * b + h] = _mm256_sub_epi32(acc[2 * b + h], _mm256_mullo_epi32(z, s));
        }
      }
    }
  }
  for (int b = 0; b < kBlocks; ++b) {
    for (int h = 0; h < 2; ++h) {
      const int c0 = (ob0 + b) * kBlockOut + h * kHalf;
      StoreHalf(acc[2 * b + h], c0, element + c0, weights, e, inv_out_scale);
    }
  }
}

}  // namespace

TERNSERVE_AVX2 void TernaryConvAvx2(const ConvShape& shape, const ConvInput& input,
                                    const TernaryConvWeights& weights,
                                    const ConvEpilogue& epilogue) {
  const float inv_out_scale = 1.0f / epilogue.out_scale;
  ForEachOutputPixel(
      shape, input, weights, [&](const InBoundsTap* taps, int num_taps, int64_t element) {
        ForEachBlockPass(weights.out_blocks, [&](auto blocks, int ob) {
          ConvPixel<decltype(blocks)::value>(taps, num_taps, ob, input.zero_point, element, weights,
                                             epilogue, inv_out_scale);
        });
      });
}

}  // namespace ternserve::kernels
