#include "models/channel_sort.h"

#include <vector>

namespace ternserve {
namespace {

bool IsConv1(const LayerSpec& l) {
  return l.name.size() > 5 && l.name.substr(l.name.size() - 5) == "conv1";
}
bool IsConv2(const LayerSpec& l) {
  return l.name.size() > 5 && l.name.substr(l.name.size() - 5) == "conv2";
}

// A channel set: the layers whose outputs form it and the layers that read it.
struct ChannelSet {
  std::vector<const LayerSpec*> producers;
  std::vector<const LayerSpec*> consumers;
};

void Permute(Supernet& net, const ChannelSet& set) {
  torch::NoGradGuard no_grad;
  torch::Tensor importance;
  for (const LayerSpec* p : set.producers) {
    const torch::Tensor rows = net->weight(p->name).reshape({p->out_channels, -1}).abs().sum(1);
    const torch::Tensor score = rows * net->bn_gamma(p->bn_name).abs();
    importance = importance.defined() ? importance + score : score;
  }
  const torch::Tensor order = std::get<1>(importance.sort(/*dim=*/0, /*descending=*/true));
  for (const LayerSpec* p : set.producers) {
    torch::Tensor& w = net->weight(p->name);
    w.copy_(w.index_select(0, order));
    net->bn_gamma(p->bn_name).copy_(net->bn_gamma(p->bn_name).index_select(0, order));
    net->bn_beta(p->bn_name).copy_(net->bn_beta(p->bn_name).index_select(0, order));
  }
  for (const LayerSpec* c : set.consumers) {
    torch::Tensor& w = net->weight(c->name);
    w.copy_(w.index_select(1, order));
  }
}

}  // namespace

void SortChannelsByImportance(Supernet& net) {
  const std::vector<LayerSpec>& layers = net->layers();
  std::vector<ChannelSet> streams(kNumStages);
  for (const LayerSpec& l : layers) {
    if (l.name == "stem" || IsConv2(l) || (l.kernel == 1 && l.name != "fc")) {
      streams[l.out_width_stage].producers.push_back(&l);
    }
    if (l.name == "fc" || IsConv1(l) || (l.kernel == 1 && l.name != "fc")) {
      streams[l.in_width_stage].consumers.push_back(&l);
    }
  }
  for (const ChannelSet& s : streams) Permute(net, s);
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!IsConv1(layers[i])) continue;
    // conv2 of the same block follows conv1 in SupernetLayers().
    Permute(net, ChannelSet{{&layers[i]}, {&layers[i + 1]}});
  }
}

}  // namespace ternserve
