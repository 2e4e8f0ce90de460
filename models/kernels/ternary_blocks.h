// The kernel-side ternary weight layout: what every conv / linear kernel variant reads.
//
// The bundle stores 2-bit codes row-major ([out][in*k*k], models/kernels/ternary_pack.h). The
// kernels want a different order, so at load time RepackTernaryConv() reorders a sliced
// [out_used][in_used][k][k] prefix of a bundle matrix into WeightBlocks, still 2 bits per weight:
//
//   block (ob, tap, ig) holds w[16 * ob + lane][4 * ig + j][tap] for lane < 16, j < 4,
//   stored in the order [out_blocks][k * k taps][in_groups]; tap = ky * k + kx.
//
// A block is two 64-bit masks, 16 bytes: bit 4 * lane + j of `plus` is set iff the weight is +1,
// of `minus` iff it is -1. Bit 4 * lane + j is exactly byte 4 * lane + j of a zmm register, whose
// dword `lane` then holds the 4 int8 weights of output channel 16 * ob + lane for 4 consecutive
// input channels: the operand shape of AVX-512 VNNI vpdpbusd (u8 x s8 -> int32, 4 products per
// dword), with one broadcast activation dword (4 channels of one NHWC pixel) on the other side.
// Expanding a block to int8 is two mask loads and two masked byte moves on AVX-512 (kmovq;
// vmovdqu8 {z} of +1s; vmovdqu8 of -1s) and a byte shuffle + compare per mask on AVX2. The kernels
// expand either in registers, once per tile of output pixels that reuses the block
// (conv_pixel_loop.h), or, when a call runs more than a few tiles, once per call into a per-thread
// int8 scratch (4x the 2-bit size: 147 KB for the largest layer, L2-resident, transient) that the
// tiles then load directly, which leaves the vector ports to the multiplies (conv_avx512_vnni.cc).
// Output channels beyond out_used and input channels beyond in_used are zero weights, so padded
// lanes and padded activation channels contribute nothing.
//
// Why 2 bits and not int8 blocks: resident weight memory is 16x below fp32 (2 bits per weight; the
// only overhead is rounding channels up to 16 outputs / 4 inputs), and a whole layer (the largest,
// 128 -> 128 3x3, is 36 KB) stays in L1/L2. No per-tap weight sums are stored: a kernel that needs
// them for an input zero point (the stem) sums the expanded weights itself (conv_avx512_vnni.cc).
//
// PackedTernaryConv is a value type, immutable after RepackTernaryConv(); safe to share between
// threads for reading. It is the whole-layer TernaryConvWeights of the blocks it owns, so the block
// accessors exist once, in TernaryConvWeights. libc/libstdc++ only.
#ifndef TERNSERVE_MODELS_KERNELS_TERNARY_BLOCKS_H_
#define TERNSERVE_MODELS_KERNELS_TERNARY_BLOCKS_H_

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace ternserve::kernels {

inline constexpr int kBlockOut = 16;     // output channels per block (dwords per zmm)
inline constexpr int kBlockIn = 4;       // input channels per dword (bytes per vpdpbusd lane)
inline constexpr int kChannelAlign = 4;  // activation channel stride is a multiple of this

struct alignas(16) WeightBlock {
  uint64_t plus = 0;   // bit 4 * lane + j: weight +1
  uint64_t minus = 0;  // bit 4 * lane + j: weight -1

  int8_t At(int lane, int j) const {
    const int bit = lane * kBlockIn + j;
    return static_cast<int8_t>(((plus >> bit) & 1) - ((minus >> bit) & 1));
  }
  void Set(int lane, int j, int8_t w) {
    const uint64_t bit = uint64_t{1} << (lane * kBlockIn + j);
    plus = w > 0 ? plus | bit : plus & ~bit;
    minus = w < 0 ? minus | bit : minus & ~bit;
  }
};
static_assert(sizeof(WeightBlock) == 16, "a weight block is 64 weights x 2 bits");

// Channel stride of every activation tensor the kernels read or write (u8 or float, NHWC): the
// channel count rounded up to kChannelAlign, so a 4-channel dword load never crosses a pixel.
constexpr int PaddedChannels(int channels) {
  return (channels + kChannelAlign - 1) / kChannelAlign * kChannelAlign;
}

// What a kernel reads: the leading out_channels x in_channels of a packed layer, and the one
// implementation of the block accessors. A sub-net's weights are such a prefix of each full-width
// layer, so one PackedTernaryConv per layer serves every sub-net. Non-owning: the PackedTernaryConv
// must outlive it. Any view works with any input zero point (kernels derive the zero-point term
// from the view's own weights).
struct TernaryConvWeights {
  int out_channels = 0;  // used (sliced) output channels
  int in_channels = 0;   // used (sliced) input channels
  int kernel = 0;        // 1 or 3
  int out_blocks = 0;    // ceil(out_channels / kBlockOut)
  int in_groups = 0;     // ceil(in_channels / kBlockIn): the groups a kernel reads
  int group_stride = 0;  // the packed layer's in_groups: distance between (ob, tap) block rows
  bool full_in = true;   // in_channels is the packed layer's (informational)
  const WeightBlock* blocks = nullptr;  // [out_blocks][kernel * kernel][group_stride]

  int taps() const { return kernel * kernel; }
  const WeightBlock* Block(int ob, int tap, int ig) const {
    return &blocks[(static_cast<size_t>(ob) * taps() + tap) * group_stride + ig];
  }
  // Weight of (output channel o, input channel i, tap), 0 outside the used shape.
  int8_t At(int o, int i, int tap) const {
    if (o >= out_channels || i >= in_channels) return 0;
    return Block(o / kBlockOut, tap, i / kBlockIn)->At(o % kBlockOut, i % kBlockIn);
  }
};

// A layer's blocks, owned, and the view of the whole layer: a PackedTernaryConv is passed to a
// kernel as is. Copies and moves keep `blocks` pointing at their own storage.
class PackedTernaryConv : public TernaryConvWeights {
 public:
  PackedTernaryConv() = default;
  PackedTernaryConv(const PackedTernaryConv& other)
      : TernaryConvWeights(other), storage_(other.storage_) {
    blocks = storage_.data();
  }
  PackedTernaryConv(PackedTernaryConv&& other) noexcept
      : TernaryConvWeights(other), storage_(std::move(other.storage_)) {
    blocks = storage_.data();
    static_cast<TernaryConvWeights&>(other) = TernaryConvWeights();
  }
  PackedTernaryConv& operator=(PackedTernaryConv other) noexcept {
    static_cast<TernaryConvWeights&>(*this) = other;
    storage_ = std::move(other.storage_);
    blocks = storage_.data();
    return *this;
  }

  size_t block_count() const { return storage_.size(); }
  // Resident bytes of the pack (the blocks and this header).
  size_t bytes() const { return sizeof(*this) + storage_.capacity() * sizeof(WeightBlock); }

 private:
  friend bool RepackTernaryConv(const uint8_t* codes, int full_out, int full_in, int kernel,
                                int out_used, int in_used, PackedTernaryConv* out);
  std::vector<WeightBlock> storage_;
};

// The view of the leading [out_used][in_used] channels of `packed`; false (and `out` untouched) if
// they do not fit. Lanes of a partial last output block read the packed layer's next channels;
// kernels mask them out of the output.
bool SliceTernaryConv(const PackedTernaryConv& packed, int out_used, int in_used,
                      TernaryConvWeights* out);

// Reorders the leading [out_used][in_used][k][k] of a bundle code matrix `codes` (row-major, full
// shape [full_out][full_in * k * k], PackedRowBytes per row) into `out`. A fully connected layer
// is kernel 1 ([out][in]). Returns false if the slice does not fit the full shape, kernel is not 1
// or 3, or a code is invalid (0b10).
bool RepackTernaryConv(const uint8_t* codes, int full_out, int full_in, int kernel, int out_used,
                       int in_used, PackedTernaryConv* out);

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_TERNARY_BLOCKS_H_
