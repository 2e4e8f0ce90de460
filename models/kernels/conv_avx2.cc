// AVX2 variant of the ternary conv (conv_kernels.h), for CPUs without AVX-512 VNNI.
//
// vpmaddubsw multiplies u8 activations by s8 weights and adds adjacent pairs into int16 with
// signed saturation. It cannot saturate here: weights are ternary, so a pair is at most
// 255 * 1 + 255 * 1 = 510 in magnitude, far inside int16. vpmaddwd by 1 then adds the two pairs of
// each dword exactly into int32, giving vpdpbusd's 4-product dword without the accumulate, and the
// accumulation stays int32. A 2-bit WeightBlock is expanded in registers as two ymm halves of int8
// weights (output lanes 0-7 and 8-15), each reused by a tile of up to 7 output pixels
// (conv_pixel_loop.h).
//
// Function-level target attributes only (the library runs on any x86-64). Bit-exact with the
// scalar reference: the integer sums are exact and the float epilogue is conv_params.h's, op for
// op (the TU builds with -ffp-contract=off, so no FMA is formed).
#include <immintrin.h>

#include <cstring>
#include <vector>

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

// 32 bits as 32 bytes: 0xFF where the bit is set, 0 elsewhere (bit i -> byte i).
TERNSERVE_AVX2 inline __m256i ExpandBits(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(  // byte i <- byte i / 8 of `bits`
      _mm256_set1_epi32(static_cast<int32_t>(bits)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3,
                       3, 3, 3, 3, 3, 3));
  const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

// Half h (output lanes 8h .. 8h + 7) of a 2-bit WeightBlock as 32 int8 weights.
TERNSERVE_AVX2 inline __m256i ExpandHalf(const WeightBlock* block, int h) {
  const uint32_t plus = static_cast<uint32_t>(block->plus >> (32 * h));
  const uint32_t minus = static_cast<uint32_t>(block->minus >> (32 * h));
  return _mm256_sub_epi8(ExpandBits(minus), ExpandBits(plus));  // (-1 or 0) - (-1 or 0)
}

// vpmaddubsw's int16 pair sums are at most 2 * 255 = 510 in magnitude (ternary weights), so up to
// 64 of them add exactly in int16 (64 * 510 = 32640 <= 32767) before vpmaddwd widens them to int32:
// the inner loop is then one multiply and one add per pixel instead of three ops.
constexpr int kMaxPairSteps = 64;

// One tile (conv_pixel_loop.h): kPixels output pixels x one output block, computed as its two
// 8-channel halves one after the other, so the 16 ymm registers hold kPixels (<= 7) int16
// accumulators, the expanded weight half, a broadcast and the constants. Per (tap, input group) the
// weight half is expanded once and reused by every pixel. The zero point is handled as in the
// AVX-512 kernel: one more product per weight half with the dword of z in each real input channel
// of the group.
//
// `expanded` is the view's blocks expanded once per call to int8 ([out_blocks][taps][in_groups],
// 64 B per block: half 0, then half 1), so the tile only loads them.
template <int kPixels, bool kZeroPoint>
TERNSERVE_AVX2 void ConvTileKernel(const ConvTile& t, int32_t zero_point,
                                   const TernaryConvWeights& weights, const ExpandedBlock* expanded,
                                   const ConvEpilogue& e, float inv_out_scale) {
  const __m256i ones16 = _mm256_set1_epi16(1);
  const int k = weights.kernel;
  const int groups = weights.in_groups;
  const int64_t step = t.pixel_step;
  ZeroPointQuads zq;
  if (kZeroPoint) zq = MakeZeroPointQuads(zero_point, weights);
  const uint32_t zquad = zq.full, zquad_last = zq.last;
  for (int h = 0; h < 2; ++h) {
    // int32 totals in memory; the loop accumulates int16 pairs in registers (see kMaxPairSteps).
    alignas(32) int32_t total[kPixels][kHalf] = {};
    __m256i zsum = _mm256_setzero_si256();
    for (int ky = t.ky_begin; ky < t.ky_end; ++ky) {
      for (int kx = 0; kx < k; ++kx) {
        const int tap = ky * k + kx;
        const uint8_t* a = t.rows[ky] + kx * t.channel_stride;
        const ExpandedBlock* w =
            expanded + (static_cast<int64_t>(t.ob0) * weights.taps() + tap) * groups;
        for (int ig0 = 0; ig0 < groups; ig0 += kMaxPairSteps) {
          const int ig_end = groups - ig0 < kMaxPairSteps ? groups : ig0 + kMaxPairSteps;
          __m256i acc16[kPixels];
          for (int p = 0; p < kPixels; ++p) acc16[p] = _mm256_setzero_si256();
          for (int ig = ig0; ig < ig_end; ++ig) {
            const __m256i wv = _mm256_load_si256(reinterpret_cast<const __m256i*>(w[ig].w) + h);
            for (int p = 0; p < kPixels; ++p) {
              int32_t quad;
              std::memcpy(&quad, a + p * step + ig * kBlockIn, sizeof(quad));
              acc16[p] =
                  _mm256_add_epi16(acc16[p], _mm256_maddubs_epi16(_mm256_set1_epi32(quad), wv));
            }
            if (kZeroPoint) {
              const __m256i zx =
                  _mm256_set1_epi32(static_cast<int32_t>(ig + 1 < groups ? zquad : zquad_last));
              zsum =
                  _mm256_add_epi32(zsum, _mm256_madd_epi16(_mm256_maddubs_epi16(zx, wv), ones16));
            }
          }
          for (int p = 0; p < kPixels; ++p) {
            __m256i* tp = reinterpret_cast<__m256i*>(total[p]);
            _mm256_store_si256(
                tp, _mm256_add_epi32(_mm256_load_si256(tp), _mm256_madd_epi16(acc16[p], ones16)));
          }
        }
      }
    }
    __m256i acc[kPixels];
    for (int p = 0; p < kPixels; ++p) {
      acc[p] = _mm256_load_si256(reinterpret_cast<const __m256i*>(total[p]));
    }
    const int c0 = t.ob0 * kBlockOut + h * kHalf;
    for (int p = 0; p < kPixels; ++p) {
      const __m256i sum = kZeroPoint ? _mm256_sub_epi32(acc[p], zsum) : acc[p];
      StoreHalf(sum, c0, t.element + static_cast<int64_t>(p) * t.out_stride + c0, weights, e,
                inv_out_scale);
    }
  }
}

}  // namespace

// Expands the view's 2-bit blocks once per call into a per-thread int8 scratch (thread_local,
// reused across calls; 147 KB for the largest layer), then runs the tiles.
TERNSERVE_AVX2 void TernaryConvAvx2(const ConvShape& shape, const ConvInput& input,
                                    const TernaryConvWeights& weights,
                                    const ConvEpilogue& epilogue) {
  thread_local std::vector<ExpandedBlock> expanded;
  const int taps = weights.taps();
  const size_t count = static_cast<size_t>(weights.out_blocks) * taps * weights.in_groups;
  if (expanded.size() < count) expanded.resize(count);
  ExpandedBlock* dst = expanded.data();
  for (int ob = 0; ob < weights.out_blocks; ++ob) {
    for (int tap = 0; tap < taps; ++tap) {
      for (int ig = 0; ig < weights.in_groups; ++ig, ++dst) {
        for (int h = 0; h < 2; ++h) {
          _mm256_store_si256(reinterpret_cast<__m256i*>(dst->w) + h,
                             ExpandHalf(weights.Block(ob, tap, ig), h));
        }
      }
    }
  }
  const ExpandedBlock* xw = expanded.data();
  const float inv_out_scale = 1.0f / epilogue.out_scale;
  if (input.zero_point != 0) {
    ForEachConvTile<1>(shape, input, weights, [&](auto, auto pixels, const ConvTile& t) {
      ConvTileKernel<decltype(pixels)::value, true>(t, input.zero_point, weights, xw, epilogue,
                                                    inv_out_scale);
    });
  } else {
    ForEachConvTile<1>(shape, input, weights, [&](auto, auto pixels, const ConvTile& t) {
      ConvTileKernel<decltype(pixels)::value, false>(t, 0, weights, xw, epilogue, inv_out_scale);
    });
  }
}

}  // namespace ternserve::kernels
