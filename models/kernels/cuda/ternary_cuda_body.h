// The per-thread bodies of the CUDA ternary kernels, shared by the device and a CPU emulation.
//
// Plain C++17 that both g++ and nvcc compile: ternary_cuda.cu wraps each body in a __global__
// kernel that passes (blockIdx.x, threadIdx.x); tests/models/kernels/cuda_emulation_test.cc runs
// the same bodies over the whole emulated grid on the CPU and holds them bit-exact to
// TernaryConvScalar, QuantizeStemInput and the engine's average pool, so the build without a GPU
// still checks every index, mask and epilogue step the device runs. Only the primitives of
// ternary_cuda_primitives.h differ between the two (selected by __CUDA_ARCH__): the int8x4 dot
// product (PTX dp4a.u32.s32 on the device, an exact scalar sum on the host), the float ops
// (__fmul_rn / __fadd_rn / __fdiv_rn / __int2float_rn, which no --fmad setting may contract,
// against plain IEEE ops in a TU built with -ffp-contract=off), round-half-to-even (rintf against
// std::nearbyint in the default rounding mode) and 4-byte word access. No shared memory and no warp
// intrinsics: a thread reads only the kernel's inputs and writes only its own outputs, so running
// the threads one after another on the CPU computes what the device computes concurrently.
//
// Conv thread mapping (ConvLaunchGeometry). A thread computes kPixelsPerThread = 7 consecutive
// output pixels of one output row times kChannelsPerThread = 4 consecutive output channels (one
// "quad"): 28 int32 accumulators. Per (tap, input group) it loads one 4-channel activation word
// per pixel and 16 bits of each mask of one WeightBlock, expands the 4 channels' nibbles into 4
// int8x4 words in registers, and issues 28 dp4a. 7 pixels divide the SuperNet's output widths
// (28, 14, 7), so no lane idles there, and amortize the weight expansion (about 8 integer ops per
// channel) over 7 dp4a. The quad is the fastest-varying thread index, so a warp's threads share
// the pixel group's activation words (one broadcast load) and write adjacent 4-byte output words
// (coalesced). The output channel padding (PaddedChannels(out) is a whole number of quads) is
// written as zeros by the threads that own it.
//
// Zero point. acc = sum over in-bounds taps of w * (x - z). The body feeds an out-of-bounds tap
// the zero-point word z * 0x01010101 instead of skipping it, and subtracts z * (sum of the
// thread's weights over all taps), computed with one more dp4a per channel and (tap, group): the
// out-of-bounds taps then add w * (z - z) = 0. Weights of input channels >= in_channels (the last
// group of an odd count, or of a sliced view, whose lanes hold the packed layer's next channels)
// are masked to 0, so the activations' padding channels add nothing, whatever they hold. When
// z == 0 the correction is skipped. Every sum stays within int32 (|acc| < 2^19, conv_params.h).
//
// Rows: the conv bodies honour ConvShape::row_begin/row_end (the grid covers exactly that range of
// n * OutH + oy), though the GPU caller normally passes the whole tensor (row_end -1).
//
// Pure functions over plain structs; the bodies write only their own output elements.
#ifndef TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_BODY_H_
#define TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_BODY_H_

#include <cstdint>

#include "models/kernels/conv_params.h"
#include "models/kernels/cuda/ternary_cuda_primitives.h"
#include "models/kernels/ternary_blocks.h"

namespace ternserve::kernels::cuda {

// ---- The conv. ----

// How a conv is cut into threads and blocks (see the file comment).
struct ConvLaunchGeometry {
  static constexpr int kThreadsPerBlock = 128;
  static constexpr int kPixelsPerThread = 7;
  static constexpr int kChannelsPerThread = 4;
  static_assert(kThreadsPerBlock % 32 == 0, "blocks of whole warps");
  static_assert(kChannelsPerThread == kChannelAlign,
                "a thread owns whole padded-channel words: one u8 output word per pixel");
  static_assert(kBlockOut % kChannelsPerThread == 0, "a thread's channels lie in one block");
  static_assert(kChannelsPerThread * kBlockIn == 16, "a quad is 16 bits of each block mask");

  int quads = 0;         // PaddedChannels(out_channels) / kChannelsPerThread
  int pixel_groups = 0;  // per output row: ceil(OutW / kPixelsPerThread)
  int64_t rows = 0;      // output rows (n, oy) computed
  int64_t threads = 0;   // quads * pixel_groups * rows: one thread each
  int64_t blocks = 0;    // ceil(threads / kThreadsPerBlock), the 1-D grid
};

// Everything a conv thread reads, precomputed on the host and passed to the kernel by value.
// Pointers are device pointers on the GPU, host pointers in the emulation.
struct ConvKernelParams {
  ConvLaunchGeometry geometry;
  int64_t row_begin = 0;  // first output row of the grid
  int kernel = 3;         // 1 or 3: which TernaryConvThread instantiation runs it
  int stride = 1;
  int in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int in_stride = 0;   // PaddedChannels(in_channels)
  int out_stride = 0;  // PaddedChannels(out_channels)
  int out_channels = 0;
  int in_groups = 0;
  int group_stride = 0;
  uint32_t zero_word = 0;          // zero point in each byte
  uint32_t last_input_mask16 = 0;  // LoadWeightQuad mask of the last input group
  const uint8_t* input = nullptr;
  const WeightBlock* blocks = nullptr;
  const float* multiplier = nullptr;
  const float* bias = nullptr;
  const uint8_t* residual_u8 = nullptr;
  float residual_scale = 1.0f;
  const float* residual_f32 = nullptr;
  bool relu = true;
  uint8_t* out_u8 = nullptr;
  float inv_out_scale = 1.0f;  // 1.0f / out_scale, divided once on the host as the CPU kernels do
  float* out_f32 = nullptr;
};

// Host only: the grid of a conv over shape's row range.
inline ConvLaunchGeometry MakeConvGeometry(const ConvShape& shape,
                                           const TernaryConvWeights& weights) {
  using G = ConvLaunchGeometry;
  G g;
  const int k = weights.kernel;
  g.quads = PaddedChannels(weights.out_channels) / G::kChannelsPerThread;
  g.pixel_groups = (shape.OutW(k) + G::kPixelsPerThread - 1) / G::kPixelsPerThread;
  const int64_t row_end = shape.RowEnd(k);
  g.rows = row_end > shape.row_begin ? row_end - shape.row_begin : 0;
  g.threads = static_cast<int64_t>(g.quads) * g.pixel_groups * g.rows;
  g.blocks = (g.threads + G::kThreadsPerBlock - 1) / G::kThreadsPerBlock;
  return g;
}

// Host only: the kernel parameters of one conv call (conv_kernels.h's TernaryConvFn arguments).
inline ConvKernelParams MakeConvKernelParams(const ConvShape& shape, const ConvInput& input,
                                             const TernaryConvWeights& weights,
                                             const ConvEpilogue& epilogue) {
  ConvKernelParams p;
  const int k = weights.kernel;
  p.geometry = MakeConvGeometry(shape, weights);
  p.row_begin = shape.row_begin;
  p.kernel = k;
  p.stride = shape.stride;
  p.in_h = shape.in_h;
  p.in_w = shape.in_w;
  p.out_h = shape.OutH(k);
  p.out_w = shape.OutW(k);
  p.in_stride = PaddedChannels(weights.in_channels);
  p.out_stride = PaddedChannels(weights.out_channels);
  p.out_channels = weights.out_channels;
  p.in_groups = weights.in_groups;
  p.group_stride = weights.group_stride;
  p.zero_word = static_cast<uint32_t>(input.zero_point & 0xFF) * 0x01010101u;
  const int last_inputs = weights.in_channels - (weights.in_groups - 1) * kBlockIn;  // 1 .. 4
  p.last_input_mask16 = ((1u << last_inputs) - 1) * 0x1111u;
  p.input = input.data;
  p.blocks = weights.blocks;
  p.multiplier = epilogue.multiplier;
  p.bias = epilogue.bias;
  p.residual_u8 = epilogue.residual_u8;
  p.residual_scale = epilogue.residual_scale;
  p.residual_f32 = epilogue.residual_f32;
  p.relu = epilogue.relu;
  p.out_u8 = epilogue.out_u8;
  p.inv_out_scale = 1.0f / epilogue.out_scale;
  p.out_f32 = epilogue.out_f32;
  return p;
}

// What one conv thread computes: pixels [ox0, ox0 + pixels) of output row `row`, channels
// [4 * quad, 4 * quad + 4). `active` is false for the tail threads of the last block.
struct ConvThreadWork {
  bool active = false;
  int64_t row = 0;  // n * out_h + oy
  int ox0 = 0;
  int pixels = 0;  // 1 .. kPixelsPerThread
  int quad = 0;
};
TS_HOST_DEVICE inline ConvThreadWork MapConvThread(const ConvKernelParams& p, int64_t block,
                                                   int thread) {
  using G = ConvLaunchGeometry;
  ConvThreadWork w;
  const int64_t t = block * G::kThreadsPerBlock + thread;
  if (t >= p.geometry.threads) return w;
  w.active = true;
  w.quad = static_cast<int>(t % p.geometry.quads);
  const int64_t pixel_group = t / p.geometry.quads;
  w.row = p.row_begin + pixel_group / p.geometry.pixel_groups;
  w.ox0 = static_cast<int>(pixel_group % p.geometry.pixel_groups) * G::kPixelsPerThread;
  const int left = p.out_w - w.ox0;
  w.pixels = left < G::kPixelsPerThread ? left : G::kPixelsPerThread;
  return w;
}

// The epilogue of a thread's 4 channels [o0, o0 + 4) of one output pixel, whose first element is
// element0: conv_params.h's EpilogueValue, then RequantizeU8 (one 4-byte store) or 4 float
// stores; channels >= out_channels (the padding) get 0.
TS_HOST_DEVICE inline void StoreConvOutputs(const ConvKernelParams& p, int64_t element0,
                                            const int32_t acc[4], int o0) {
  uint32_t word = 0;
  for (int c = 0; c < 4; ++c) {
    const int o = o0 + c;
    const int64_t element = element0 + c;
    float y = 0.0f;
    uint32_t q8 = 0;
    if (o < p.out_channels) {
      y = MulRn(IntToFloatRn(acc[c]), p.multiplier[o]);
      y = AddRn(y, p.bias[o]);
      if (p.residual_u8 != nullptr) {
        y = AddRn(y, MulRn(IntToFloatRn(p.residual_u8[element]), p.residual_scale));
      } else if (p.residual_f32 != nullptr) {
        y = AddRn(y, p.residual_f32[element]);
      }
      if (p.relu) y = y > 0.0f ? y : 0.0f;
      if (p.out_u8 != nullptr) {
        float q = MulRn(y, p.inv_out_scale);
        q = q > 0.0f ? q : 0.0f;
        q = q < 255.0f ? q : 255.0f;
        q8 = static_cast<uint32_t>(RoundHalfEven(q));
      }
    }
    if (p.out_u8 != nullptr) {
      word |= q8 << (8 * c);
    } else {
      p.out_f32[element] = y;  // padding channels: +0
    }
  }
  if (p.out_u8 != nullptr) StoreWord(p.out_u8 + element0, word);
}

// One conv thread: the kernel template argument (1 or 3) must equal p.kernel.
template <int kKernel>
TS_HOST_DEVICE inline void TernaryConvThread(const ConvKernelParams& p, int64_t block, int thread) {
  static_assert(kKernel == 1 || kKernel == 3, "1x1 or 3x3");
  constexpr int kPixels = ConvLaunchGeometry::kPixelsPerThread;
  constexpr int kPad = kKernel / 2;
  const ConvThreadWork work = MapConvThread(p, block, thread);
  if (!work.active) return;
  const int n = static_cast<int>(work.row / p.out_h);
  const int oy = static_cast<int>(work.row % p.out_h);
  const int ob = work.quad / (kBlockOut / 4);
  const int quad_in_block = work.quad % (kBlockOut / 4);
  const bool has_zero_point = p.zero_word != 0;

  int32_t acc[kPixels][4];
  int32_t zero_term[4] = {0, 0, 0, 0};
  TS_UNROLL
  for (int i = 0; i < kPixels; ++i) {
    TS_UNROLL
    for (int c = 0; c < 4; ++c) acc[i][c] = 0;
  }

  TS_UNROLL
  for (int ky = 0; ky < kKernel; ++ky) {
    const int iy = oy * p.stride - kPad + ky;
    const bool row_inside = iy >= 0 && iy < p.in_h;
    const int64_t in_row = (static_cast<int64_t>(n) * p.in_h + iy) * p.in_w;
    TS_UNROLL
    for (int kx = 0; kx < kKernel; ++kx) {
      // Each pixel's input under this tap, or none (the zero-point word stands in).
      const uint8_t* src[kPixels];
      TS_UNROLL
      for (int i = 0; i < kPixels; ++i) {
        const int ix = (work.ox0 + i) * p.stride - kPad + kx;
        const bool inside = row_inside && i < work.pixels && ix >= 0 && ix < p.in_w;
        src[i] = inside ? p.input + (in_row + ix) * p.in_stride : nullptr;
      }
      const WeightBlock* blocks =
          p.blocks +
          (static_cast<int64_t>(ob) * (kKernel * kKernel) + ky * kKernel + kx) * p.group_stride;
      for (int ig = 0; ig < p.in_groups; ++ig) {
        const uint32_t input_mask = ig == p.in_groups - 1 ? p.last_input_mask16 : 0xFFFFu;
        const WeightQuad masks = LoadWeightQuad(blocks[ig], quad_in_block, input_mask);
        uint32_t w[4];
        TS_UNROLL
        for (int c = 0; c < 4; ++c) {
          w[c] = ExpandDisjointNibbles((masks.plus >> (4 * c)) & 0xFu,
                                       (masks.minus >> (4 * c)) & 0xFu);
        }
        if (has_zero_point) {
          TS_UNROLL
          for (int c = 0; c < 4; ++c) zero_term[c] = Dp4aU8S8(p.zero_word, w[c], zero_term[c]);
        }
        TS_UNROLL
        for (int i = 0; i < kPixels; ++i) {
          const uint32_t x = src[i] != nullptr ? LoadWord(src[i] + ig * kBlockIn) : p.zero_word;
          TS_UNROLL
          for (int c = 0; c < 4; ++c) acc[i][c] = Dp4aU8S8(x, w[c], acc[i][c]);
        }
      }
    }
  }

  const int o0 = work.quad * 4;
  TS_UNROLL
  for (int i = 0; i < kPixels; ++i) {
    if (i < work.pixels) {
      int32_t result[4];
      TS_UNROLL
      for (int c = 0; c < 4; ++c) result[c] = acc[i][c] - zero_term[c];
      const int64_t element0 =
          (work.row * p.out_w + work.ox0 + i) * static_cast<int64_t>(p.out_stride) + o0;
      StoreConvOutputs(p, element0, result, o0);
    }
  }
}

// ---- Stem input quantization and the average pool: one thread per output word / element. ----

inline constexpr int kElementwiseThreadsPerBlock = 256;

// conv_params.cc's QuantizeStemInput for pixel `block * 256 + thread` (< count): writes its 4-byte
// output word (the value, then 3 zero padding channels).
TS_HOST_DEVICE inline void QuantizeStemInputThread(const float* pixels, int64_t count, float mean,
                                                   float std, StemQuantization q, uint8_t* out,
                                                   int64_t block, int thread) {
  const int64_t i = block * kElementwiseThreadsPerBlock + thread;
  if (i >= count) return;
  const float x = DivRn(SubRn(pixels[i], mean), std);
  float v = AddRn(RoundHalfEven(DivRn(x, q.scale)), IntToFloatRn(q.zero_point));
  v = v > 0.0f ? v : 0.0f;
  v = v < 255.0f ? v : 255.0f;
  StoreWord(out + i * kChannelAlign, static_cast<uint32_t>(v));
}

// ternary_engine.cc's global average pool for element `block * 256 + thread` of
// out[batch][PaddedChannels(channels)]: the int32 sum of channel c over the pixels, times to_pool,
// clamped to [0, 255] (std::max then std::min, NaN kept as they keep it), rounded half to even;
// padding channels 0.
TS_HOST_DEVICE inline void AveragePoolU8Thread(const uint8_t* h, int batch, int pixels,
                                               int channels, float to_pool, uint8_t* out,
                                               int64_t block, int thread) {
  const int stride = (channels + kChannelAlign - 1) / kChannelAlign * kChannelAlign;
  const int64_t element = block * kElementwiseThreadsPerBlock + thread;
  if (element >= static_cast<int64_t>(batch) * stride) return;
  const int64_t n = element / stride;
  const int c = static_cast<int>(element % stride);
  if (c >= channels) {
    out[element] = 0;
    return;
  }
  const uint8_t* src = h + n * pixels * stride + c;
  int32_t sum = 0;
  for (int i = 0; i < pixels; ++i) sum += src[static_cast<int64_t>(i) * stride];
  float q = MulRn(IntToFloatRn(sum), to_pool);
  q = q < 0.0f ? 0.0f : q;      // std::max(q, 0.0f)
  q = 255.0f < q ? 255.0f : q;  // std::min(q, 255.0f)
  out[element] = static_cast<uint8_t>(RoundHalfEven(q));
}

}  // namespace ternserve::kernels::cuda

#endif  // TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_BODY_H_
