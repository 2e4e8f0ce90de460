// AVX-512 VNNI variant of the ternary conv (conv_kernels.h): vpdpbusd multiplies 4 u8 activations
// (one broadcast dword: 4 consecutive channels of a pixel) by a WeightBlock's 4 int8 weights per
// output-channel lane (expanded from the 2-bit block) and adds them into 16 int32 accumulators. A
// tile of 7 output pixels x up to 3 output blocks shares each expanded weight block and each
// broadcast (conv_pixel_loop.h). The epilogue is conv_params.h's, op for op, 16 lanes at a time.
//
// Two ways to get int8 weights, chosen per call by its tile count: expanding the 2-bit blocks once
// per call into a scratch (the rule), or in registers per tile, which spends 2 of every ~9 vector
// ops on masked byte moves but saves the scratch pass. Measured with ternserve-bench's layer suite
// (5 repetitions, 2 runs each; the in-register path was its own table entry then): per-call
// expansion was faster on 45 of the 48 (layer, batch, threads) rows, by 1-33% (median 13%);
// in-register expansion won where a call has 7 tiles per pass (batch 1, 7x7 output, 1 thread: +8%
// on 3x3/2 64->128, +3% on 3x3 128->128; the third row, +3%, ran the same code in both), hence the
// threshold of 7 tiles below.
//
// Every function here carries a target attribute instead of the whole TU being built with
// -mavx512*, so nothing here runs unless the dispatcher checked the CPU. Bit-exact with the
// scalar reference: integer sums are associative, and the float steps are the same IEEE ops in
// the same order (the TU builds with -ffp-contract=off, so no FMA is formed).
#include <immintrin.h>

#include <cstring>
#include <vector>

#include "models/kernels/conv_kernels.h"
#include "models/kernels/conv_pixel_loop.h"

// GCC 12's intrinsic headers self-initialise their "undefined" vectors (`__m512 __Y = __Y;`), which
// -Wmaybe-uninitialized (or -Wuninitialized, depending on inlining) flags once they are inlined
// here; the values are never read.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#define TERNSERVE_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

namespace ternserve::kernels {
namespace {

// The epilogue of one output block, hoisted out of the pixel loop: its masks and per-channel
// vectors are loaded once per tile (and the ConvEpilogue copied to a local, so the u8 output
// stores, which may alias anything, do not force reloads).
struct BlockEpilogue {
  __mmask16 load_mask;   // channels < out_channels
  __mmask16 store_mask;  // channels < PaddedChannels(out_channels)
  __m512 multiplier;
  __m512 bias;
};

TERNSERVE_AVX512_VNNI inline BlockEpilogue MakeBlockEpilogue(int c0,
                                                             const TernaryConvWeights& weights,
                                                             const ConvEpilogue& e) {
  const int out_stride = PaddedChannels(weights.out_channels);
  const int valid = weights.out_channels - c0 < kBlockOut ? weights.out_channels - c0 : kBlockOut;
  const int stored = out_stride - c0 < kBlockOut ? out_stride - c0 : kBlockOut;
  BlockEpilogue b;
  b.load_mask = static_cast<__mmask16>((1u << valid) - 1);
  b.store_mask = static_cast<__mmask16>((1u << stored) - 1);
  b.multiplier = _mm512_maskz_loadu_ps(b.load_mask, e.multiplier + c0);
  b.bias = _mm512_maskz_loadu_ps(b.load_mask, e.bias + c0);
  return b;
}

// conv_params.h's epilogue, op for op, for 16 output channels starting at output `element`.
TERNSERVE_AVX512_VNNI inline void StoreBlock(__m512i acc, const BlockEpilogue& b, int64_t element,
                                             const ConvEpilogue& e, float inv_out_scale) {
  const __m512 zero = _mm512_setzero_ps();
  __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), b.multiplier);
  y = _mm512_add_ps(y, b.bias);
  if (e.residual_u8 != nullptr) {
    const __m128i r8 = _mm_maskz_loadu_epi8(b.load_mask, e.residual_u8 + element);
    const __m512 r = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(r8));
    y = _mm512_add_ps(y, _mm512_mul_ps(r, _mm512_set1_ps(e.residual_scale)));
  } else if (e.residual_f32 != nullptr) {
    y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(b.load_mask, e.residual_f32 + element));
  }
  // max_ps(a, b) is a > b ? a : b, exactly the scalar `y > 0 ? y : 0` (NaN and -0 included).
  if (e.relu) y = _mm512_max_ps(y, zero);
  if (e.out_u8 != nullptr) {
    __m512 q = _mm512_mul_ps(y, _mm512_set1_ps(inv_out_scale));
    // After the ReLU y is +0, positive or +inf, so with a finite positive 1 / out_scale q is never
    // negative or NaN and max(q, 0) is q bit for bit: skipped (one op of ten per 16 outputs).
    if (!(e.relu && inv_out_scale > 0.0f && inv_out_scale <= 3.4e38f)) q = _mm512_max_ps(q, zero);
    q = _mm512_min_ps(q, _mm512_set1_ps(255.0f));
    // cvtps rounds with MXCSR (default: to nearest even), like std::nearbyint.
    const __m128i q8 = _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q));
    _mm_mask_storeu_epi8(e.out_u8 + element, b.store_mask, q8);
  } else {
    // Lanes past out_channels are 0 (zero weights, masked-to-zero multiplier, bias, residual).
    _mm512_mask_storeu_ps(e.out_f32 + element, b.store_mask, y);
  }
}

// A 2-bit WeightBlock (ternary_blocks.h) as 64 int8 weights: +1 where `plus`, -1 where `minus`.
TERNSERVE_AVX512_VNNI inline __m512i ExpandBlock(const WeightBlock* block) {
  const __mmask64 plus = _cvtu64_mask64(block->plus);
  const __mmask64 minus = _cvtu64_mask64(block->minus);
  return _mm512_mask_mov_epi8(_mm512_maskz_mov_epi8(plus, _mm512_set1_epi8(1)), minus,
                              _mm512_set1_epi8(-1));
}

// One tile (conv_pixel_loop.h): kPixels output pixels x kBlocks output blocks, one zmm accumulator
// each (at most 3 x 7 = 21 of the 32 registers, leaving room for the kBlocks expanded weight
// blocks, a broadcast and, for a zero point, kBlocks correction sums). Per (tap, input group) the
// kBlocks weight blocks are expanded once and each pixel's activation dword broadcast once, then
// kBlocks * kPixels vpdpbusd run back to back.
//
// Zero point (kZeroPoint): sum over the tile's taps of w * (x - z) = sum w * x - sum w * z, and
// the second term is the same for every pixel of the tile (its window rows are the same, and the
// padding columns hold z, conv_pixel_loop.h), so it is one more vpdpbusd per weight block with the
// dword of z in each real input channel of the group (0 in the channel padding).
//
// Weights come either from the 2-bit blocks, expanded here per tile (kPreExpanded false), or from
// `expanded`: the view's blocks expanded once per call into int8 zmm images (kPreExpanded true).
template <int kBlocks, int kPixels, bool kZeroPoint, bool kPreExpanded>
TERNSERVE_AVX512_VNNI void ConvTileKernel(const ConvTile& t, int32_t zero_point,
                                          const TernaryConvWeights& weights,
                                          const ExpandedBlock* expanded,
                                          const ConvEpilogue& epilogue, float inv_out_scale) {
  const ConvEpilogue e = epilogue;
  __m512i acc[kBlocks][kPixels];
  __m512i zsum[kBlocks];
  for (int b = 0; b < kBlocks; ++b) {
    for (int p = 0; p < kPixels; ++p) acc[b][p] = _mm512_setzero_si512();
    zsum[b] = _mm512_setzero_si512();
  }
  const int k = weights.kernel;
  const int groups = weights.in_groups;
  const int64_t step = t.pixel_step;
  ZeroPointQuads zq;
  if (kZeroPoint) zq = MakeZeroPointQuads(zero_point, weights);
  const uint32_t zquad = zq.full, zquad_last = zq.last;
  for (int ky = t.ky_begin; ky < t.ky_end; ++ky) {
    for (int kx = 0; kx < k; ++kx) {
      const int tap = ky * k + kx;
      const uint8_t* a = t.rows[ky] + kx * t.channel_stride;
      const WeightBlock* w[kBlocks];
      // Pre-expanded weights are laid out per pass: [tap][group][block of the pass], so one
      // pointer with constant offsets reaches all kBlocks (fewer live registers in the loop).
      const ExpandedBlock* xw =
          kPreExpanded
              ? expanded + (static_cast<int64_t>(t.ob0) * weights.taps() + tap * kBlocks) * groups
              : nullptr;
      if (!kPreExpanded) {
        for (int b = 0; b < kBlocks; ++b) w[b] = weights.Block(t.ob0 + b, tap, 0);
      }
      for (int ig = 0; ig < groups; ++ig) {
        __m512i wv[kBlocks];
        for (int b = 0; b < kBlocks; ++b) {
          wv[b] = kPreExpanded ? _mm512_load_si512(xw + ig * kBlocks + b) : ExpandBlock(w[b] + ig);
        }
        // Pixel p's dword, addressed from three bases (pixels 0, 3, 6) plus 0, 1 or 2 steps, which
        // x86 addressing (base + index * {1, 2}) covers without a register per pixel.
        const uint8_t* a0 = a + ig * kBlockIn;
        for (int p = 0; p < kPixels; ++p) {
          const uint8_t* base = a0 + (p / 3) * 3 * step;
          int32_t quad;
          std::memcpy(&quad, base + (p % 3) * step, sizeof(quad));
          const __m512i x = _mm512_set1_epi32(quad);
          for (int b = 0; b < kBlocks; ++b) acc[b][p] = _mm512_dpbusd_epi32(acc[b][p], x, wv[b]);
          // Keeps the weights in registers: without it GCC 12 spills some to the stack and feeds
          // vpdpbusd from there (measured slower).
          for (int b = 0; b < kBlocks; ++b) asm("" : "+v"(wv[b]));
        }
        if (kZeroPoint) {
          const __m512i zx =
              _mm512_set1_epi32(static_cast<int32_t>(ig + 1 < groups ? zquad : zquad_last));
          for (int b = 0; b < kBlocks; ++b) zsum[b] = _mm512_dpbusd_epi32(zsum[b], zx, wv[b]);
        }
      }
    }
  }
  for (int b = 0; b < kBlocks; ++b) {
    const int c0 = (t.ob0 + b) * kBlockOut;
    const BlockEpilogue be = MakeBlockEpilogue(c0, weights, e);
    for (int p = 0; p < kPixels; ++p) {
      const __m512i sum = kZeroPoint ? _mm512_sub_epi32(acc[b][p], zsum[b]) : acc[b][p];
      StoreBlock(sum, be, t.element + static_cast<int64_t>(p) * t.out_stride + c0, e,
                 inv_out_scale);
    }
  }
}

template <bool kPreExpanded>
TERNSERVE_AVX512_VNNI void RunConv(const ConvShape& shape, const ConvInput& input,
                                   const TernaryConvWeights& weights, const ExpandedBlock* expanded,
                                   const ConvEpilogue& epilogue) {
  const float inv_out_scale = 1.0f / epilogue.out_scale;
  if (input.zero_point != 0) {
    ForEachConvTile<kMaxBlocksPerPass>(
        shape, input, weights, [&](auto blocks, auto pixels, const ConvTile& t) {
          ConvTileKernel<decltype(blocks)::value, decltype(pixels)::value, true, kPreExpanded>(
              t, input.zero_point, weights, expanded, epilogue, inv_out_scale);
        });
  } else {
    ForEachConvTile<kMaxBlocksPerPass, kPreExpanded>(
        shape, input, weights, [&](auto blocks, auto pixels, const ConvTile& t) {
          ConvTileKernel<decltype(blocks)::value, decltype(pixels)::value, false, kPreExpanded>(
              t, 0, weights, expanded, epilogue, inv_out_scale);
        });
  }
}

}  // namespace

// Expands the view's 2-bit blocks once per call into a per-thread scratch of int8 zmm images
// (64 B per block: 4x the 2-bit pack, 147 KB for the largest layer, 128 -> 128 3x3, so it stays in
// L2), then runs the tiles with plain aligned loads of the expanded weights: the expansion (two
// masked byte moves per block) is paid once per call instead of once per tile, and leaves the
// vector ports to vpdpbusd. The scratch is thread_local: calls on different threads never share
// it, and it is reused (grown, never shrunk) across calls on the same thread. Calls with only a few
// tiles expand in registers instead.
TERNSERVE_AVX512_VNNI void TernaryConvAvx512Vnni(const ConvShape& shape, const ConvInput& input,
                                                 const TernaryConvWeights& weights,
                                                 const ConvEpilogue& epilogue) {
  // Expanding costs about what one tile's in-register expansion does, so it pays off once a call
  // runs more than a few tiles per pass: at batch 1 a 7x7 layer has 7 (one thread) or 3-4 (two).
  const int k = weights.kernel;
  const int64_t tiles_per_pass =
      (shape.RowEnd(k) - shape.row_begin) * ((shape.OutW(k) + kTilePixels - 1) / kTilePixels);
  if (tiles_per_pass <= 7) {
    RunConv<false>(shape, input, weights, nullptr, epilogue);
    return;
  }
  thread_local std::vector<ExpandedBlock> expanded;
  const int taps = weights.taps();
  const size_t count = static_cast<size_t>(weights.out_blocks) * taps * weights.in_groups;
  if (expanded.size() < count) expanded.resize(count);
  // In the order the tiles read them: per pass of output blocks (conv_pixel_loop.h), [tap][group]
  // [block of the pass]; a pass starting at block ob0 starts at ob0 * taps * in_groups.
  ExpandedBlock* dst = expanded.data();
  for (int ob0 = 0; ob0 < weights.out_blocks;) {
    const int blocks = PassBlocks(weights.out_blocks - ob0, kMaxBlocksPerPass);
    for (int tap = 0; tap < taps; ++tap) {
      for (int ig = 0; ig < weights.in_groups; ++ig) {
        for (int b = 0; b < blocks; ++b) {
          _mm512_store_si512(dst++, ExpandBlock(weights.Block(ob0 + b, tap, ig)));
        }
      }
    }
    ob0 += blocks;
  }
  RunConv<true>(shape, input, weights, expanded.data(), epilogue);
}

}  // namespace ternserve::kernels
