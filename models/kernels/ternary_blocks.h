// The kernel-side ternary weight layout: what every conv / linear kernel variant reads.
//
// The bundle stores 2-bit codes row-major ([out][in*k*k], models/kernels/ternary_pack.h). The
// kernels want a different order, so at sub-net load time RepackTernaryConv() expands a sliced
// [out_used][in_used][k][k] prefix of a bundle matrix into WeightBlocks of int8 values:
//
//   block (ob, tap, ig) holds w[16 * ob + lane][4 * ig + j][tap] at w[lane][j], lane < 16, j < 4,
//   stored in the order [out_blocks][k * k taps][in_groups]; tap = ky * k + kx.
//
// One block is exactly one 64-byte zmm register: lane `lane` (a 32-bit dword) holds the 4 int8
// weights of output channel 16 * ob + lane for 4 consecutive input channels, which is the operand
// shape of AVX-512 VNNI vpdpbusd (u8 x s8 -> int32, 4 products per dword). The activation side is
// one broadcast dword: 4 consecutive channels of one NHWC pixel. Output channels beyond out_used
// and input channels beyond in_used are zero weights, so padded lanes and padded activation
// channels contribute nothing.
//
// Why expand at load time rather than in registers: an int8 block is one aligned load per
// vpdpbusd, with no shuffle work on the critical path; the whole largest sub-net is ~0.3 M weights
// (~0.3 MB as int8), which still fits L2. The 2-bit codes remain the storage format; an
// in-register expansion (2 bits -> int8 via vpshufb) can be added as a second format later without
// changing the bundle.
//
// tap_sums[ob][tap][lane] = sum over input channels of the weights at that tap: kernels use it to
// apply an input zero point exactly (see conv_params.h).
//
// PackedTernaryConv is a value type, immutable after RepackTernaryConv(); safe to share between
// threads for reading. libc/libstdc++ only.
#ifndef TERNSERVE_MODELS_KERNELS_TERNARY_BLOCKS_H_
#define TERNSERVE_MODELS_KERNELS_TERNARY_BLOCKS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ternserve::kernels {

inline constexpr int kBlockOut = 16;     // output channels per block (dwords per zmm)
inline constexpr int kBlockIn = 4;       // input channels per dword (bytes per vpdpbusd lane)
inline constexpr int kChannelAlign = 4;  // activation channel stride is a multiple of this

struct alignas(64) WeightBlock {
  int8_t w[kBlockOut][kBlockIn];
};
static_assert(sizeof(WeightBlock) == 64, "a weight block is one zmm register");
static_assert(alignof(WeightBlock) == 64, "weight blocks are cache-line aligned");

// Channel stride of every activation tensor the kernels read or write (u8 or float, NHWC): the
// channel count rounded up to kChannelAlign, so a 4-channel dword load never crosses a pixel.
constexpr int PaddedChannels(int channels) {
  return (channels + kChannelAlign - 1) / kChannelAlign * kChannelAlign;
}

struct PackedTernaryConv {
  int out_channels = 0;             // used (sliced) output channels
  int in_channels = 0;              // used (sliced) input channels
  int kernel = 0;                   // 1 or 3
  int out_blocks = 0;               // ceil(out_channels / kBlockOut)
  int in_groups = 0;                // ceil(in_channels / kBlockIn)
  std::vector<WeightBlock> blocks;  // [out_blocks][kernel * kernel][in_groups]
  std::vector<int32_t> tap_sums;    // [out_blocks][kernel * kernel][kBlockOut]

  int taps() const { return kernel * kernel; }
  const WeightBlock* Block(int ob, int tap, int ig) const {
    return &blocks[(static_cast<size_t>(ob) * taps() + tap) * in_groups + ig];
  }
  const int32_t* TapSums(int ob, int tap) const {
    return &tap_sums[(static_cast<size_t>(ob) * taps() + tap) * kBlockOut];
  }
  // Weight of (output channel o, input channel i, tap), 0 outside the used shape.
  int8_t At(int o, int i, int tap) const {
    if (o >= out_channels || i >= in_channels) return 0;
    return Block(o / kBlockOut, tap, i / kBlockIn)->w[o % kBlockOut][i % kBlockIn];
  }
};

// What a kernel reads: the leading out_channels x in_channels of a packed layer. A sub-net's
// weights are such a prefix of each full-width layer, so one PackedTernaryConv per layer serves
// every sub-net. Non-owning (the PackedTernaryConv must outlive it); implicitly built from a whole
// layer.
//
// tap_sums are per packed layer, i.e. summed over all of its input channels: they are exact for a
// view only if in_channels is the packed layer's (`full_in`). Kernels use them only for a non-zero
// input zero point (the stem, whose single input channel is never sliced); with zero_point != 0 a
// view must be full_in.
struct TernaryConvWeights {
  int out_channels = 0;
  int in_channels = 0;
  int kernel = 0;
  int out_blocks = 0;    // ceil(out_channels / kBlockOut)
  int in_groups = 0;     // ceil(in_channels / kBlockIn): the groups a kernel reads
  int group_stride = 0;  // the packed layer's in_groups: distance between (ob, tap) block rows
  bool full_in = true;
  const WeightBlock* blocks = nullptr;
  const int32_t* tap_sums = nullptr;

  TernaryConvWeights() = default;
  TernaryConvWeights(const PackedTernaryConv& p)  // NOLINT: implicit on purpose (whole layer)
      : out_channels(p.out_channels),
        in_channels(p.in_channels),
        kernel(p.kernel),
        out_blocks(p.out_blocks),
        in_groups(p.in_groups),
        group_stride(p.in_groups),
        full_in(true),
        blocks(p.blocks.data()),
        tap_sums(p.tap_sums.data()) {}

  int taps() const { return kernel * kernel; }
  const WeightBlock* Block(int ob, int tap, int ig) const {
    return &blocks[(static_cast<size_t>(ob) * taps() + tap) * group_stride + ig];
  }
  const int32_t* TapSums(int ob, int tap) const {
    return &tap_sums[(static_cast<size_t>(ob) * taps() + tap) * kBlockOut];
  }
  int8_t At(int o, int i, int tap) const {
    if (o >= out_channels || i >= in_channels) return 0;
    return Block(o / kBlockOut, tap, i / kBlockIn)->w[o % kBlockOut][i % kBlockIn];
  }
};

// The view of the leading [out_used][in_used] channels of `packed`; false (and `out` untouched) if
// they do not fit. Lanes of a partial last output block read the packed layer's next channels;
// kernels mask them out of the output.
bool SliceTernaryConv(const PackedTernaryConv& packed, int out_used, int in_used,
                      TernaryConvWeights* out);

// Expands the leading [out_used][in_used][k][k] of a bundle code matrix `codes` (row-major, full
// shape [full_out][full_in * k * k], PackedRowBytes per row) into `out`. A fully connected layer
// is kernel 1 ([out][in]). Returns false if the slice does not fit the full shape, kernel is not 1
// or 3, or a code is invalid (0b10).
bool RepackTernaryConv(const uint8_t* codes, int full_out, int full_in, int kernel, int out_used,
                       int in_used, PackedTernaryConv* out);

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_TERNARY_BLOCKS_H_
