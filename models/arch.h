// The SuperNet's architecture and its elastic sub-net space, without LibTorch: shared by training,
// the bundle reader and every engine so they agree on layer names, shapes, MACs and parameter
// counts.
//
// Shape (docs/architecture.md "The SuperNet"): 3x3 stem -> 3 stages of basic residual blocks
// (strides 1, 2, 2)
// -> global average pool -> linear. Stage s has max width max_widths[s] and max depth
// max_depths[s]. The stem's output width is stage 0's width. The first block of stages 1 and 2 has
// a 1x1 stride-2 shortcut conv; every other block has an identity shortcut. Each conv is followed
// by a BatchNorm.
//
// A sub-net picks a depth per stage (LayerSelect: its first d blocks) and a width per stage
// (WeightSlice: the leading channels). Value types; thread-compatible.
#ifndef TERNSERVE_MODELS_ARCH_H_
#define TERNSERVE_MODELS_ARCH_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ternserve {

inline constexpr int kNumStages = 3;
inline constexpr int kImageSide = 28;
inline constexpr int kImagePixels = kImageSide * kImageSide;

struct ArchConfig {
  std::array<int, kNumStages> max_widths = {32, 64, 128};
  std::array<int, kNumStages> max_depths = {3, 3, 3};
  std::array<int, kNumStages> strides = {1, 2, 2};
  std::vector<double> width_mults = {0.25, 0.5, 0.75, 1.0};
  std::vector<int> depth_choices = {1, 2, 3};
  int num_classes = 10;

  // Channels of stage s at width multiplier m (rounded, at least 1).
  int StageWidth(int stage, double mult) const;
};

// One point of the elastic space: blocks and channels per stage.
struct SubnetConfig {
  std::array<int, kNumStages> depths;
  std::array<int, kNumStages> widths;

  bool operator==(const SubnetConfig& o) const { return depths == o.depths && widths == o.widths; }
  bool operator!=(const SubnetConfig& o) const { return !(*this == o); }
};

// "d3.3.3-w32.64.128": stable, readable, used as the sub-net name in the bundle and in logs.
std::string SubnetName(const SubnetConfig& subnet);

SubnetConfig LargestSubnet(const ArchConfig& arch);
SubnetConfig SmallestSubnet(const ArchConfig& arch);
// Every sub-net of the space (|depth_choices|^3 * |width_mults|^3 of them; 1728 for the default
// space), in a fixed order.
std::vector<SubnetConfig> AllSubnets(const ArchConfig& arch);
// OK if every depth is a depth choice and every width is a width choice of its stage.
absl::Status ValidateSubnet(const ArchConfig& arch, const SubnetConfig& subnet);

// A conv (or the linear classifier) of the SuperNet, at its maximum shape, and how a sub-net slices
// it.
struct LayerSpec {
  std::string name;     // "stem", "s1.b0.conv1", "s1.b0.shortcut", "fc"
  std::string bn_name;  // its BatchNorm ("stem.bn", "s1.b0.bn1", ...); empty for fc
  int stage = -1;       // -1 for stem and fc
  int block = -1;
  int out_channels = 0;  // maximum shape
  int in_channels = 0;
  int kernel = 3;  // 3 or 1; 1 for fc
  int stride = 1;
  // Which stage's width slices this layer's output / input channels (-1: not sliced, i.e. fixed).
  int out_width_stage = -1;
  int in_width_stage = -1;

  int64_t RowLength() const { return static_cast<int64_t>(in_channels) * kernel * kernel; }
};

// All layers of the SuperNet at maximum shape, in execution order: stem, then for each stage and
// block conv1, conv2, shortcut (where present), then fc.
std::vector<LayerSpec> SupernetLayers(const ArchConfig& arch);

// True if the layer runs in the sub-net (its block is within the stage's depth).
bool LayerActive(const LayerSpec& layer, const SubnetConfig& subnet);
// The layer's sliced (out, in) channels in the sub-net.
int SlicedOut(const LayerSpec& layer, const SubnetConfig& subnet);
int SlicedIn(const LayerSpec& layer, const SubnetConfig& subnet);

// The sub-net's u8 activation tensors that an integer engine requantizes, in execution order, by
// the name SubnetMeta::activation_scales uses: "stem" (stem output), then per active block
// "sS.bB.conv1" (conv1's output) and "sS.bB" (the block's output), then "pool" (the pooled
// features that feed fc). All of them follow a ReLU (or an average of ReLU outputs), so >= 0.
std::vector<std::string> ActivationNames(const ArchConfig& arch, const SubnetConfig& subnet);

// Multiply-accumulates per image and weight count (conv and linear weights plus the classifier
// bias; BN excluded).
int64_t CountMacs(const ArchConfig& arch, const SubnetConfig& subnet);
int64_t CountParams(const ArchConfig& arch, const SubnetConfig& subnet);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_ARCH_H_
