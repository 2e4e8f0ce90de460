#include "models/static_net.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"

namespace ternserve {
namespace {

torch::Tensor RunConv(const StaticConv& c, const torch::Tensor& x) {
  return torch::conv2d(x, c.weight, c.bias, c.stride, c.padding);
}

// Walks the sub-net's active layers in order and assembles the static network; `make_conv(layer)`
// returns the folded conv for a layer and `fc(weight, bias)` fills the classifier.
StaticNet Assemble(const ArchConfig& arch, const SubnetConfig& subnet,
                   const std::function<StaticConv(const LayerSpec&)>& make_conv,
                   const std::function<void(const LayerSpec&, StaticNet*)>& make_fc) {
  StaticNet net;
  for (const LayerSpec& layer : SupernetLayers(arch)) {
    if (!LayerActive(layer, subnet)) continue;
    if (layer.name == "fc") {
      make_fc(layer, &net);
    } else if (layer.name == "stem") {
      net.stem = make_conv(layer);
    } else if (layer.kernel == 1) {
      net.blocks.back().shortcut = make_conv(layer);
    } else if (layer.name.back() == '1') {
      net.blocks.emplace_back();
      net.blocks.back().name = absl::StrCat("s", layer.stage, ".b", layer.block);
      net.blocks.back().conv1 = make_conv(layer);
    } else {
      net.blocks.back().conv2 = make_conv(layer);
    }
  }
  return net;
}

}  // namespace

torch::Tensor StaticNet::Forward(const torch::Tensor& x, const Observer& observe) const {
  auto seen = [&](const std::string& name, const torch::Tensor& t) {
    if (observe) observe(name, t);
    return t;
  };
  torch::Tensor h = seen("stem", torch::relu(RunConv(stem, (x - input_mean) / input_std)));
  for (const StaticBlock& block : blocks) {
    const torch::Tensor a = seen(block.name + ".conv1", torch::relu(RunConv(block.conv1, h)));
    const torch::Tensor y = RunConv(block.conv2, a);
    h = seen(block.name, torch::relu(y + (block.shortcut ? RunConv(*block.shortcut, h) : h)));
  }
  return torch::addmm(fc_bias, seen("pool", h.mean({2, 3})), fc_weight.t());
}

std::map<std::string, float> CalibrateActivationScales(const StaticNet& net,
                                                       const torch::Tensor& images,
                                                       double percentile, int64_t batch) {
  torch::NoGradGuard no_grad;
  std::map<std::string, float> scales;
  for (int64_t first = 0; first < images.size(0); first += batch) {
    const torch::Tensor x = images.narrow(0, first, std::min(batch, images.size(0) - first));
    net.Forward(x, [&](const std::string& name, const torch::Tensor& t) {
      // torch::quantile sorts; kthvalue on the flattened tensor is the same order statistic.
      const torch::Tensor flat = t.reshape({-1});
      const int64_t k = std::clamp<int64_t>(
          static_cast<int64_t>(std::ceil(percentile * static_cast<double>(flat.numel()))), 1,
          flat.numel());
      const float q = std::get<0>(flat.kthvalue(k)).item<float>();
      float& scale = scales[name];
      scale = std::max(scale, q / 255.0f);
    });
  }
  // A tensor that is all zeros on the calibration images still needs a valid (tiny) scale.
  for (auto& [name, scale] : scales) scale = std::max(scale, 1e-6f);
  return scales;
}

StaticNet StaticNetFromSupernet(Supernet& supernet, const SubnetConfig& subnet,
                                const BnStats& stats) {
  torch::NoGradGuard no_grad;
  auto sliced = [&](const LayerSpec& layer) {
    return supernet->QuantizedWeight(layer.name)
        .narrow(0, 0, SlicedOut(layer, subnet))
        .narrow(1, 0, SlicedIn(layer, subnet));
  };
  StaticNet net = Assemble(
      supernet->arch(), subnet,
      [&](const LayerSpec& layer) {
        torch::Tensor scale, shift;
        FoldBn(supernet, layer, subnet, stats, &scale, &shift);
        return StaticConv{(sliced(layer) * scale.reshape({-1, 1, 1, 1})).contiguous(),
                          shift.contiguous(), layer.stride, layer.kernel / 2};
      },
      [&](const LayerSpec& layer, StaticNet* out) {
        out->fc_weight = sliced(layer).contiguous();
        out->fc_bias = supernet->fc_bias().detach().clone();
      });
  net.input_mean = kFashionMnistMean;
  net.input_std = kFashionMnistStd;
  return net;
}

StaticNet StaticNetFromBundle(const Bundle& bundle, const SubnetMeta& subnet) {
  const SubnetConfig& config = subnet.config;
  auto weights = [&](const LayerSpec& layer) {
    const int out = SlicedOut(layer, config);
    const int in = SlicedIn(layer, config);
    std::vector<float> w = bundle.SlicedWeights(layer, out, in);
    return torch::from_blob(w.data(), {out, in, layer.kernel, layer.kernel}).clone();
  };
  StaticNet net = Assemble(
      bundle.metadata().arch, config,
      [&](const LayerSpec& layer) {
        std::vector<float> scale, shift;
        bundle.FoldedBn(subnet.id, layer, &scale, &shift);
        const torch::Tensor s =
            torch::from_blob(scale.data(), {static_cast<int64_t>(scale.size()), 1, 1, 1});
        return StaticConv{
            (weights(layer) * s).contiguous(),
            torch::from_blob(shift.data(), {static_cast<int64_t>(shift.size())}).clone(),
            layer.stride, layer.kernel / 2};
      },
      [&](const LayerSpec& layer, StaticNet* out) {
        out->fc_weight = weights(layer).reshape({layer.out_channels, -1}).contiguous();
        const TensorView bias = *bundle.Tensor("fc.bias");
        out->fc_bias = torch::from_blob(const_cast<float*>(bias.floats()), {bias.numel()}).clone();
      });
  net.input_mean = bundle.metadata().input_mean;
  net.input_std = bundle.metadata().input_std;
  return net;
}

}  // namespace ternserve
