// The output-pixel walk the SIMD conv variants share, so each variant differs only in its per-pixel
// kernel: for every output pixel, the taps of its window that fall inside the image (zero padding
// is a skipped tap) and the offset of its output element; and the split of the output blocks into
// passes of up to 4 blocks that share each activation load.
//
// Plain scalar code with no target attribute: the per-pixel kernels it calls carry theirs.
// Header-only templates; pure functions.
#ifndef TERNSERVE_MODELS_KERNELS_CONV_PIXEL_LOOP_H_
#define TERNSERVE_MODELS_KERNELS_CONV_PIXEL_LOOP_H_

#include <cstdint>
#include <type_traits>

#include "models/kernels/conv_params.h"
#include "models/kernels/ternary_blocks.h"

namespace ternserve::kernels {

struct InBoundsTap {
  int tap;               // ky * kernel + kx
  const uint8_t* pixel;  // the input pixel's first channel
};

// Calls visit(const InBoundsTap* taps, int num_taps, int64_t element) once per output pixel of the
// shape's row range.
template <typename Visit>
void ForEachOutputPixel(const ConvShape& shape, const ConvInput& input,
                        const TernaryConvWeights& weights, Visit&& visit) {
  const int k = weights.kernel;
  const int pad = k / 2;
  const int out_h = shape.OutH(k);
  const int out_w = shape.OutW(k);
  const int in_stride = PaddedChannels(weights.in_channels);
  const int out_stride = PaddedChannels(weights.out_channels);
  InBoundsTap taps[9];
  const int64_t row_end = shape.RowEnd(k);
  for (int64_t row = shape.row_begin; row < row_end; ++row) {
    const int n = static_cast<int>(row / out_h);
    const int oy = static_cast<int>(row % out_h);
    for (int ox = 0; ox < out_w; ++ox) {
      int num_taps = 0;
      for (int ky = 0; ky < k; ++ky) {
        const int iy = oy * shape.stride - pad + ky;
        if (iy < 0 || iy >= shape.in_h) continue;
        for (int kx = 0; kx < k; ++kx) {
          const int ix = ox * shape.stride - pad + kx;
          if (ix < 0 || ix >= shape.in_w) continue;
          taps[num_taps].tap = ky * k + kx;
          taps[num_taps].pixel =
              input.data +
              ((static_cast<int64_t>(n) * shape.in_h + iy) * shape.in_w + ix) * in_stride;
          ++num_taps;
        }
      }
      visit(taps, num_taps, ((static_cast<int64_t>(n) * out_h + oy) * out_w + ox) * out_stride);
    }
  }
}

inline constexpr int kMaxBlocksPerPass = 4;

// Calls run(std::integral_constant<int, B>{}, first_block) for passes of B <= 4 output blocks
// covering all `out_blocks`; B is a compile-time constant so the kernel keeps its accumulators in
// registers.
template <typename Run>
void ForEachBlockPass(int out_blocks, Run&& run) {
  int ob = 0;
  for (; ob + kMaxBlocksPerPass <= out_blocks; ob += kMaxBlocksPerPass) {
    run(std::integral_constant<int, kMaxBlocksPerPass>{}, ob);
  }
  switch (out_blocks - ob) {
    case 3:
      run(std::integral_constant<int, 3>{}, ob);
      break;
    case 2:
      run(std::integral_constant<int, 2>{}, ob);
      break;
    case 1:
      run(std::integral_constant<int, 1>{}, ob);
      break;
    default:
      break;
  }
}

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_CONV_PIXEL_LOOP_H_
