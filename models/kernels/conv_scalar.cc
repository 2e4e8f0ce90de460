// The scalar reference of the ternary conv (conv_kernels.h): the definition the SIMD variants are
// tested against, written for clarity first.
#include <algorithm>
#include <vector>

#include "models/kernels/conv_kernels.h"

namespace ternserve::kernels {

void TernaryConvScalar(const ConvShape& shape, const ConvInput& input,
                       const TernaryConvWeights& weights, const ConvEpilogue& epilogue) {
  const int k = weights.kernel;
  const int pad = k / 2;
  const int out_h = shape.OutH(k);
  const int out_w = shape.OutW(k);
  const int in_stride = PaddedChannels(weights.in_channels);
  const int out_stride = PaddedChannels(weights.out_channels);
  const int32_t z = input.zero_point;
  const float inv_out_scale = 1.0f / epilogue.out_scale;
  std::vector<int32_t> acc(static_cast<size_t>(weights.out_blocks) * kBlockOut);

  const int64_t row_end = shape.RowEnd(k);
  for (int64_t row = shape.row_begin; row < row_end; ++row) {
    const int n = static_cast<int>(row / out_h);
    const int oy = static_cast<int>(row % out_h);
    for (int ox = 0; ox < out_w; ++ox) {
      std::fill(acc.begin(), acc.end(), 0);
      for (int ky = 0; ky < k; ++ky) {
        const int iy = oy * shape.stride - pad + ky;
        if (iy < 0 || iy >= shape.in_h) continue;
        for (int kx = 0; kx < k; ++kx) {
          const int ix = ox * shape.stride - pad + kx;
          if (ix < 0 || ix >= shape.in_w) continue;
          const uint8_t* px =
              input.data +
              ((static_cast<int64_t>(n) * shape.in_h + iy) * shape.in_w + ix) * in_stride;
          const int tap = ky * k + kx;
          for (int ob = 0; ob < weights.out_blocks; ++ob) {
            const WeightBlock* blocks = weights.Block(ob, tap, 0);
            for (int ci = 0; ci < weights.in_channels; ++ci) {
              const int32_t x = static_cast<int32_t>(px[ci]) - z;
              const WeightBlock& b = blocks[ci / kBlockIn];
              for (int lane = 0; lane < kBlockOut; ++lane) {
                acc[ob * kBlockOut + lane] += b.At(lane, ci % kBlockIn) * x;
              }
            }
          }
        }
      }
      const int64_t base = ((static_cast<int64_t>(n) * out_h + oy) * out_w + ox) * out_stride;
      for (int o = 0; o < out_stride; ++o) {
        const int64_t element = base + o;
        if (o >= weights.out_channels) {
          if (epilogue.out_u8 != nullptr) epilogue.out_u8[element] = 0;
          if (epilogue.out_f32 != nullptr) epilogue.out_f32[element] = 0.0f;
          continue;
        }
        const float y = EpilogueValue(acc[o], o, element, epilogue);
        if (epilogue.out_u8 != nullptr) {
          epilogue.out_u8[element] = RequantizeU8(y, inv_out_scale);
        } else {
          epilogue.out_f32[element] = y;
        }
      }
    }
  }
}

}  // namespace ternserve::kernels
