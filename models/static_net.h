// A static (non-elastic) fp32 network for one sub-net: sliced, dequantized weights with the
// sub-net's BN folded into each conv's bias. TorchEngine runs these; tests compare them with the
// SuperNet to prove that slicing and folding are exact.
//
// Immutable after construction; Forward is const and may run concurrently if LibTorch's thread pool
// allows.
#ifndef TERNSERVE_MODELS_STATIC_NET_H_
#define TERNSERVE_MODELS_STATIC_NET_H_

#include <torch/torch.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "models/bundle.h"
#include "models/supernet.h"

namespace ternserve {

struct StaticConv {
  torch::Tensor weight;  // [out, in, k, k], BN scale folded in
  torch::Tensor bias;    // [out], BN shift
  int stride = 1;
  int padding = 1;
};

struct StaticBlock {
  std::string name;  // "sS.bB"
  StaticConv conv1;
  StaticConv conv2;
  std::optional<StaticConv> shortcut;  // identity when empty
};

struct StaticNet {
  float input_mean = 0.0f;
  float input_std = 1.0f;
  StaticConv stem;
  std::vector<StaticBlock> blocks;
  torch::Tensor fc_weight;  // [classes, in]
  torch::Tensor fc_bias;    // [classes]

  // Called with each activation tensor that ActivationNames() (models/arch.h) lists, by that name.
  using Observer = std::function<void(const std::string& name, const torch::Tensor& activation)>;

  // x: [N, 1, 28, 28] pixels in [0, 1] -> [N, classes] logits.
  torch::Tensor Forward(const torch::Tensor& x, const Observer& observe = nullptr) const;
};

// The u8 scale of each activation tensor of `net` (SubnetMeta::activation_scales): the largest,
// over batches of `images` ([N, 1, 28, 28] pixels), of the tensor's `percentile` quantile, / 255.
// A percentile just below 1 clips rare outliers so the u8 steps stay fine for the bulk of values.
std::map<std::string, float> CalibrateActivationScales(const StaticNet& net,
                                                       const torch::Tensor& images,
                                                       double percentile = 0.9999,
                                                       int64_t batch = 250);

// Copies the sub-net's slice of the SuperNet's (quantized) weights and folds `stats` into it.
StaticNet StaticNetFromSupernet(Supernet& net, const SubnetConfig& subnet, const BnStats& stats);
// Builds sub-net `subnet` of a bundle (dequantizing ternary codes).
StaticNet StaticNetFromBundle(const Bundle& bundle, const SubnetMeta& subnet);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_STATIC_NET_H_
