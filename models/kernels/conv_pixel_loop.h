// The output walk the SIMD conv variants share, so each variant differs only in its tile kernel.
//
// Register blocking. A SIMD variant computes a tile of up to kTilePixels consecutive output pixels
// of one output row (2 * kTilePixels for passes of at most 2 blocks when the variant asks for wide
// tiles) times up to kMaxBlocksPerPass output blocks (16 channels each) at once, with
// one accumulator register per (block, pixel): each weight block it loads is reused by every pixel
// of the tile, and each broadcast activation dword by every block. (AVX-512 uses 7 pixels x up to
// 3 blocks = 21 zmm accumulators; AVX2 7 pixels x one 8-channel half.)
// kTilePixels = 7 divides every output width of the SuperNet (28, 14, 7), so full tiles are the
// rule; a shorter last tile of a row is its own instantiation (no recomputed pixels).
//
// Borders without a slow path. Zero padding is real 0, i.e. an input value equal to the zero
// point. Rows of the window outside the image are the same for every pixel of a tile (a tile
// never spans output rows), so the tile skips them: ky runs over [ky_begin, ky_end). Columns
// outside the image differ per pixel, so for a 3x3 conv the walk copies the (up to 3) input rows
// of each output row into a scratch buffer with one padding pixel on each side whose channels are
// the zero point (channels < in_channels) or 0 (the channel padding): every tap of every pixel is
// then an ordinary load, and the padding taps add w * (z - z) = 0 once the tile subtracts
// z * (weight sums of its taps). A 1x1 conv (padding 0) reads the input directly. The cost is the
// wasted work of no tap at all, plus a copy of k input rows per output row (a few percent of the
// time at 32 channels, less above).
//
// Threads: a call computes ConvShape's row range only; the scratch rows are per call, so ranges
// may start and end anywhere (mid-image included) and run concurrently.
//
// Plain scalar code with no target attribute: the tile kernels it calls carry theirs.
// Header-only templates; pure functions (the scratch row buffer is per call).
#ifndef TERNSERVE_MODELS_KERNELS_CONV_PIXEL_LOOP_H_
#define TERNSERVE_MODELS_KERNELS_CONV_PIXEL_LOOP_H_

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "models/kernels/conv_params.h"
#include "models/kernels/ternary_blocks.h"

namespace ternserve::kernels {

inline constexpr int kTilePixels = 7;
// The zero point as 4 u8 lanes of an activation dword ("zquad"), and the same for the last input
// group, whose lanes past in_channels are 0 (padding channels hold 0, not the zero point). The SIMD
// variants multiply these with the expanded weights to form the zero-point term exactly.
struct ZeroPointQuads {
  uint32_t full = 0;
  uint32_t last = 0;
};
inline ZeroPointQuads MakeZeroPointQuads(int32_t zero_point, const TernaryConvWeights& weights) {
  ZeroPointQuads q;
  q.full = static_cast<uint32_t>(zero_point) * 0x01010101u;
  const int last_channels = weights.in_channels - (weights.in_groups - 1) * kBlockIn;  // 1 .. 4
  q.last = last_channels == 4 ? q.full : q.full & ((1u << (8 * last_channels)) - 1);
  return q;
}

// A WeightBlock expanded to its 64 int8 weights, as the SIMD variants store it in their per-call
// scratch (AVX2: output lanes 0-7 in bytes 0-31, lanes 8-15 in bytes 32-63; AVX-512: one zmm).
struct alignas(64) ExpandedBlock {
  int8_t w[64];
};
static_assert(sizeof(ExpandedBlock) == 64, "an expanded block is one zmm of int8 weights");

inline constexpr int kMaxBlocksPerPass = 3;  // the most any variant asks for

// One tile: pixels [ox0, ox0 + P) of output row (n, oy), output blocks [ob0, ob0 + B).
struct ConvTile {
  // rows[ky] + p * pixel_step + kx * channel_stride is the first channel of the input pixel under
  // tap (ky, kx) of the tile's pixel p, for ky in [ky_begin, ky_end).
  const uint8_t* rows[3];
  int ky_begin;
  int ky_end;
  int64_t pixel_step;  // bytes between the inputs of consecutive output pixels
  int channel_stride;  // PaddedChannels(in_channels)
  int64_t element;     // output element of pixel 0, channel 0
  int out_stride;      // PaddedChannels(out_channels): elements between output pixels
  int ob0;             // first output block
};

// The size of the next pass when `left` output blocks remain, passes of at most `max_blocks`.
inline int PassBlocks(int left, int max_blocks) {
  const int passes = (left + max_blocks - 1) / max_blocks;
  return (left + passes - 1) / passes;
}

// Calls run(std::integral_constant<int, B>{}, first_block) for passes of B <= kMaxBlocks
// (<= kMaxBlocksPerPass) output blocks covering all `out_blocks`, as balanced as possible
// (8 blocks in passes of at most 3: 3 + 3 + 2).
template <int kMaxBlocks, typename Run>
void ForEachBlockPass(int out_blocks, Run&& run) {
  static_assert(kMaxBlocks >= 1 && kMaxBlocks <= kMaxBlocksPerPass, "1 to 3 blocks per pass");
  int ob = 0;
  while (ob < out_blocks) {
    const int b = PassBlocks(out_blocks - ob, kMaxBlocks);
    switch (b) {
      case 3:
        run(std::integral_constant < int, kMaxBlocks >= 3 ? 3 : 1 > {}, ob);
        break;
      case 2:
        run(std::integral_constant < int, kMaxBlocks >= 2 ? 2 : 1 > {}, ob);
        break;
      default:
        run(std::integral_constant<int, 1>{}, ob);
        break;
    }
    ob += b;
  }
}

// Calls run(std::integral_constant<int, P>{}, ...) with a runtime pixel count n in 1..kTilePixels.
template <typename Run>
void WithTilePixels(int n, Run&& run) {
  switch (n) {
    case 7:
      run(std::integral_constant<int, 7>{});
      break;
    case 6:
      run(std::integral_constant<int, 6>{});
      break;
    case 5:
      run(std::integral_constant<int, 5>{});
      break;
    case 4:
      run(std::integral_constant<int, 4>{});
      break;
    case 3:
      run(std::integral_constant<int, 3>{});
      break;
    case 2:
      run(std::integral_constant<int, 2>{});
      break;
    default:
      run(std::integral_constant<int, 1>{});
      break;
  }
}

// Calls tile(std::integral_constant<int, B>{}, std::integral_constant<int, P>{}, const ConvTile&)
// for every tile of the shape's row range, B <= kMaxBlocks.
template <int kMaxBlocks, bool kWideTiles = false, typename Tile>
void ForEachConvTile(const ConvShape& shape, const ConvInput& input,
                     const TernaryConvWeights& weights, Tile&& tile) {
  const int k = weights.kernel;
  const int pad = k / 2;
  const int out_h = shape.OutH(k);
  const int out_w = shape.OutW(k);
  const int cs = PaddedChannels(weights.in_channels);
  const int64_t in_row_bytes = static_cast<int64_t>(shape.in_w) * cs;

  // 3x3: k scratch rows of in_w + 2 pixels; the two padding pixels never change.
  std::vector<uint8_t> scratch;
  const int64_t scratch_row = (shape.in_w + 2 * pad) * static_cast<int64_t>(cs);
  if (pad > 0) {
    scratch.assign(static_cast<size_t>(k * scratch_row), 0);
    const uint8_t z = static_cast<uint8_t>(input.zero_point);
    for (int ky = 0; ky < k; ++ky) {
      uint8_t* row = scratch.data() + ky * scratch_row;
      for (int c = 0; c < weights.in_channels; ++c) {
        row[c] = z;
        row[scratch_row - cs + c] = z;
      }
    }
  }

  ConvTile t{};
  t.pixel_step = static_cast<int64_t>(shape.stride) * cs;
  t.channel_stride = cs;
  t.out_stride = PaddedChannels(weights.out_channels);
  const int64_t row_end = shape.RowEnd(k);
  for (int64_t row = shape.row_begin; row < row_end; ++row) {
    const int n = static_cast<int>(row / out_h);
    const int oy = static_cast<int>(row % out_h);
    t.ky_begin = k;
    t.ky_end = 0;
    for (int ky = 0; ky < k; ++ky) {
      const int iy = oy * shape.stride - pad + ky;
      if (iy < 0 || iy >= shape.in_h) continue;
      if (t.ky_begin == k) t.ky_begin = ky;
      t.ky_end = ky + 1;
      const uint8_t* src = input.data + (static_cast<int64_t>(n) * shape.in_h + iy) * in_row_bytes;
      if (pad > 0) {
        uint8_t* dst = scratch.data() + ky * scratch_row + pad * cs;
        std::memcpy(dst, src, static_cast<size_t>(in_row_bytes));
        t.rows[ky] = scratch.data() + ky * scratch_row;
      } else {
        t.rows[ky] = src;
      }
    }
    const uint8_t* rows0[3] = {t.rows[0], t.rows[1], t.rows[2]};
    const int64_t element0 = row * out_w * static_cast<int64_t>(t.out_stride);
    ForEachBlockPass<kMaxBlocks>(weights.out_blocks, [&](auto blocks, int ob) {
      t.ob0 = ob;
      int ox0 = 0;
      auto place = [&] {
        for (int ky = t.ky_begin; ky < t.ky_end; ++ky) t.rows[ky] = rows0[ky] + ox0 * t.pixel_step;
        t.element = element0 + static_cast<int64_t>(ox0) * t.out_stride;
      };
      // Passes of at most 2 blocks fit double-width tiles (2 x 14 accumulators), which halve the
      // weight loads per multiply.
      if (kWideTiles && decltype(blocks)::value <= 2) {
        for (; ox0 + 2 * kTilePixels <= out_w; ox0 += 2 * kTilePixels) {
          place();
          tile(blocks, std::integral_constant<int, 2 * kTilePixels>{}, t);
        }
      }
      for (; ox0 < out_w; ox0 += kTilePixels) {
        place();
        const int pixels = out_w - ox0 < kTilePixels ? out_w - ox0 : kTilePixels;
        WithTilePixels(pixels, [&](auto p) { tile(blocks, p, t); });
      }
    });
  }
}

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_CONV_PIXEL_LOOP_H_
