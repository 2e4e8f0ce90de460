#include "models/arch.h"

#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ternserve {

int ArchConfig::StageWidth(int stage, double mult) const {
  return std::max(1, static_cast<int>(std::lround(max_widths[stage] * mult)));
}

std::string SubnetName(const SubnetConfig& subnet) {
  return absl::StrCat("d", absl::StrJoin(subnet.depths, "."), "-w",
                      absl::StrJoin(subnet.widths, "."));
}

SubnetConfig LargestSubnet(const ArchConfig& arch) {
  SubnetConfig s;
  const int depth = *std::max_element(arch.depth_choices.begin(), arch.depth_choices.end());
  const double mult = *std::max_element(arch.width_mults.begin(), arch.width_mults.end());
  for (int i = 0; i < kNumStages; ++i) {
    s.depths[i] = depth;
    s.widths[i] = arch.StageWidth(i, mult);
  }
  return s;
}

SubnetConfig SmallestSubnet(const ArchConfig& arch) {
  SubnetConfig s;
  const int depth = *std::min_element(arch.depth_choices.begin(), arch.depth_choices.end());
  const double mult = *std::min_element(arch.width_mults.begin(), arch.width_mults.end());
  for (int i = 0; i < kNumStages; ++i) {
    s.depths[i] = depth;
    s.widths[i] = arch.StageWidth(i, mult);
  }
  return s;
}

std::vector<SubnetConfig> AllSubnets(const ArchConfig& arch) {
  std::vector<std::array<int, 2>> per_stage;  // (depth, mult index) choices, same for every stage
  for (int d : arch.depth_choices)
    for (int m = 0; m < static_cast<int>(arch.width_mults.size()); ++m) per_stage.push_back({d, m});
  std::vector<SubnetConfig> all;
  for (const auto& c0 : per_stage)
    for (const auto& c1 : per_stage)
      for (const auto& c2 : per_stage) {
        SubnetConfig s;
        const std::array<std::array<int, 2>, kNumStages> c = {c0, c1, c2};
        for (int i = 0; i < kNumStages; ++i) {
          s.depths[i] = c[i][0];
          s.widths[i] = arch.StageWidth(i, arch.width_mults[c[i][1]]);
        }
        all.push_back(s);
      }
  return all;
}

absl::Status ValidateSubnet(const ArchConfig& arch, const SubnetConfig& subnet) {
  for (int i = 0; i < kNumStages; ++i) {
    if (std::find(arch.depth_choices.begin(), arch.depth_choices.end(), subnet.depths[i]) ==
            arch.depth_choices.end() ||
        subnet.depths[i] > arch.max_depths[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("stage ", i, " depth ", subnet.depths[i], " is not a depth choice"));
    }
    bool width_ok = false;
    for (double m : arch.width_mults) width_ok |= arch.StageWidth(i, m) == subnet.widths[i];
    if (!width_ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("stage ", i, " width ", subnet.widths[i], " is not a width choice"));
    }
  }
  return absl::OkStatus();
}

std::vector<LayerSpec> SupernetLayers(const ArchConfig& arch) {
  std::vector<LayerSpec> layers;
  LayerSpec stem;
  stem.name = "stem";
  stem.bn_name = "stem.bn";
  stem.out_channels = arch.max_widths[0];
  stem.in_channels = 1;
  stem.out_width_stage = 0;
  layers.push_back(stem);
  int in_channels = arch.max_widths[0];
  for (int s = 0; s < kNumStages; ++s) {
    const int in_stage = s == 0 ? 0 : s - 1;
    for (int b = 0; b < arch.max_depths[s]; ++b) {
      const std::string prefix = absl::StrCat("s", s, ".b", b, ".");
      LayerSpec conv1;
      conv1.name = prefix + "conv1";
      conv1.bn_name = prefix + "bn1";
      conv1.stage = s;
      conv1.block = b;
      conv1.out_channels = arch.max_widths[s];
      conv1.in_channels = b == 0 ? in_channels : arch.max_widths[s];
      conv1.stride = b == 0 ? arch.strides[s] : 1;
      conv1.out_width_stage = s;
      conv1.in_width_stage = b == 0 ? in_stage : s;
      LayerSpec conv2 = conv1;
      conv2.name = prefix + "conv2";
      conv2.bn_name = prefix + "bn2";
      conv2.in_channels = arch.max_widths[s];
      conv2.stride = 1;
      conv2.in_width_stage = s;
      layers.push_back(conv1);
      layers.push_back(conv2);
      const bool projection = b == 0 && (arch.strides[s] != 1 || in_channels != arch.max_widths[s]);
      if (projection) {
        LayerSpec shortcut = conv1;
        shortcut.name = prefix + "shortcut";
        shortcut.bn_name = prefix + "shortcut_bn";
        shortcut.kernel = 1;
        layers.push_back(shortcut);
      }
    }
    in_channels = arch.max_widths[s];
  }
  LayerSpec fc;
  fc.name = "fc";
  fc.out_channels = arch.num_classes;
  fc.in_channels = arch.max_widths[kNumStages - 1];
  fc.kernel = 1;
  fc.in_width_stage = kNumStages - 1;
  layers.push_back(fc);
  return layers;
}

bool LayerActive(const LayerSpec& layer, const SubnetConfig& subnet) {
  return layer.stage < 0 || layer.block < subnet.depths[layer.stage];
}

int SlicedOut(const LayerSpec& layer, const SubnetConfig& subnet) {
  return layer.out_width_stage < 0 ? layer.out_channels : subnet.widths[layer.out_width_stage];
}

int SlicedIn(const LayerSpec& layer, const SubnetConfig& subnet) {
  return layer.in_width_stage < 0 ? layer.in_channels : subnet.widths[layer.in_width_stage];
}

int64_t CountMacs(const ArchConfig& arch, const SubnetConfig& subnet) {
  // Every conv of stage s produces the stage's resolution (the stride sits in its first block).
  std::array<int64_t, kNumStages> stage_side{};
  int64_t side = kImageSide;
  for (int s = 0; s < kNumStages; ++s)
    stage_side[s] = side = (side + arch.strides[s] - 1) / arch.strides[s];
  int64_t macs = 0;
  for (const LayerSpec& layer : SupernetLayers(arch)) {
    if (!LayerActive(layer, subnet)) continue;
    const int64_t per_position = static_cast<int64_t>(SlicedOut(layer, subnet)) *
                                 SlicedIn(layer, subnet) * layer.kernel * layer.kernel;
    if (layer.name == "fc") {
      macs += per_position;
    } else {
      const int64_t out_side = layer.stage < 0 ? kImageSide : stage_side[layer.stage];
      macs += per_position * out_side * out_side;
    }
  }
  return macs;
}

int64_t CountParams(const ArchConfig& arch, const SubnetConfig& subnet) {
  int64_t params = 0;
  for (const LayerSpec& layer : SupernetLayers(arch)) {
    if (!LayerActive(layer, subnet)) continue;
    params += static_cast<int64_t>(SlicedOut(layer, subnet)) * SlicedIn(layer, subnet) *
              layer.kernel * layer.kernel;
  }
  return params + arch.num_classes;  // classifier bias
}

std::vector<std::string> ActivationNames(const ArchConfig& arch, const SubnetConfig& subnet) {
  std::vector<std::string> names = {"stem"};
  for (const LayerSpec& layer : SupernetLayers(arch)) {
    if (layer.stage < 0 || !LayerActive(layer, subnet)) continue;
    if (absl::EndsWith(layer.name, ".conv1")) {
      names.push_back(layer.name);
      names.push_back(absl::StrCat("s", layer.stage, ".b", layer.block));
    }
  }
  names.push_back("pool");
  return names;
}

}  // namespace ternserve
