// Repacking bundle codes into the kernels' WeightBlock layout (ternary_blocks.h).
#include "models/kernels/ternary_blocks.h"

#include <utility>

#include "models/kernels/ternary_pack.h"

namespace ternserve::kernels {

bool RepackTernaryConv(const uint8_t* codes, int full_out, int full_in, int kernel, int out_used,
                       int in_used, PackedTernaryConv* out) {
  if (kernel != 1 && kernel != 3) return false;
  if (out_used <= 0 || in_used <= 0 || out_used > full_out || in_used > full_in) return false;
  const int taps = kernel * kernel;
  const int64_t row_length = static_cast<int64_t>(full_in) * taps;
  const size_t row_bytes = PackedRowBytes(row_length);

  const int out_blocks = (out_used + kBlockOut - 1) / kBlockOut;
  const int in_groups = (in_used + kBlockIn - 1) / kBlockIn;
  std::vector<WeightBlock> storage(static_cast<size_t>(out_blocks) * taps * in_groups);

  for (int o = 0; o < out_used; ++o) {
    const uint8_t* row = codes + static_cast<size_t>(o) * row_bytes;
    const int ob = o / kBlockOut;
    const int lane = o % kBlockOut;
    for (int i = 0; i < in_used; ++i) {
      for (int tap = 0; tap < taps; ++tap) {
        const int64_t index = static_cast<int64_t>(i) * taps + tap;
        if (CodeAt(row, index) == kCodeInvalid) return false;
        const size_t b = (static_cast<size_t>(ob) * taps + tap) * in_groups + i / kBlockIn;
        storage[b].Set(lane, i % kBlockIn, TernaryAt(row, index));
      }
    }
  }
  PackedTernaryConv p;
  p.out_channels = out_used;
  p.in_channels = in_used;
  p.kernel = kernel;
  p.out_blocks = out_blocks;
  p.in_groups = in_groups;
  p.group_stride = in_groups;
  p.full_in = true;
  p.storage_ = std::move(storage);
  p.blocks = p.storage_.data();
  *out = std::move(p);
  return true;
}

bool SliceTernaryConv(const PackedTernaryConv& packed, int out_used, int in_used,
                      TernaryConvWeights* out) {
  if (out_used <= 0 || in_used <= 0 || out_used > packed.out_channels ||
      in_used > packed.in_channels) {
    return false;
  }
  TernaryConvWeights v = packed;  // the whole layer, then narrowed
  v.out_channels = out_used;
  v.in_channels = in_used;
  v.out_blocks = (out_used + kBlockOut - 1) / kBlockOut;
  v.in_groups = (in_used + kBlockIn - 1) / kBlockIn;
  v.full_in = in_used == packed.in_channels;
  *out = v;
  return true;
}

}  // namespace ternserve::kernels
