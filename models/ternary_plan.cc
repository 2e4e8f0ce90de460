// The shared per-sub-net plan of the ternary engines. See ternary_plan.h.
#include "models/ternary_plan.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "models/arch.h"

namespace ternserve {
namespace {

using kernels::PackedTernaryConv;
using kernels::PaddedChannels;

// The conv `layer` of sub-net `meta`: the slice of its full-width pack, and its epilogue.
absl::StatusOr<SubnetConv> MakeConv(const TernaryPlan& plan, const SubnetMeta& meta,
                                    const LayerSpec& layer, float in_scale, float out_scale) {
  SubnetConv c;
  const int out = SlicedOut(layer, meta.config), in = SlicedIn(layer, meta.config);
  c.packed = &plan.packed.at(layer.name);
  if (!kernels::SliceTernaryConv(*c.packed, out, in, &c.weights)) {
    return absl::InternalError(absl::StrCat(layer.name, ": sub-net slice does not fit"));
  }
  c.stride = layer.stride;
  c.out_scale = out_scale;
  const std::vector<float>& w_scale = plan.weight_scales.at(layer.name);
  std::vector<float> bn_scale(out, 1.0f), bn_shift(out, 0.0f);
  if (!layer.bn_name.empty()) {
    plan.bundle->FoldedBn(meta.id, layer, &bn_scale, &bn_shift);
  } else {
    const TensorView bias = *plan.bundle->Tensor("fc.bias");
    bn_shift.assign(bias.floats(), bias.floats() + out);
  }
  c.multiplier.resize(out);
  c.bias = std::move(bn_shift);
  for (int o = 0; o < out; ++o) c.multiplier[o] = w_scale[o] * in_scale * bn_scale[o];
  return c;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TernaryPlan>> TernaryPlan::Build(const Bundle& bundle,
                                                                const std::string& engine_name) {
  const BundleMetadata& m = bundle.metadata();
  if (!m.ternary) {
    return absl::FailedPreconditionError(
        absl::StrCat(bundle.source(), ": quantizer \"", m.quantizer, "\" is not ternary; the ",
                     engine_name, " engine needs a ternary bundle (use --engine=torch)"));
  }
  for (const SubnetMeta& s : m.subnets) {
    if (s.activation_scales.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          bundle.source(), ": sub-net ", s.id, " (", s.name,
          ") has no calibrated activation scales; add them with `ternserve-train --calibrate=",
          bundle.source(), " --out=NEW.tsn` (or use --engine=torch)"));
    }
  }
  auto plan = std::make_unique<TernaryPlan>();
  plan->bundle = &bundle;
  plan->stem_quant = kernels::StemInputQuantization(m.input_mean, m.input_std);

  const std::vector<LayerSpec> layers = SupernetLayers(m.arch);
  for (const LayerSpec& layer : layers) {
    absl::StatusOr<TensorView> codes = bundle.Tensor(layer.name + ".codes");
    absl::StatusOr<TensorView> scale = bundle.Tensor(layer.name + ".scale");
    if (!codes.ok() || !scale.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(bundle.source(), ": no ternary codes/scale for layer ", layer.name));
    }
    PackedTernaryConv p;
    if (!kernels::RepackTernaryConv(codes->data, layer.out_channels, layer.in_channels,
                                    layer.kernel, layer.out_channels, layer.in_channels, &p)) {
      return absl::FailedPreconditionError(
          absl::StrCat(bundle.source(), ": cannot pack layer ", layer.name));
    }
    plan->packed.emplace(layer.name, std::move(p));
    plan->weight_scales.emplace(
        layer.name, std::vector<float>(scale->floats(), scale->floats() + scale->numel()));
  }

  for (const SubnetMeta& meta : m.subnets) {
    Subnet s;
    s.meta = &meta;
    const auto& act = meta.activation_scales;
    float h_scale = act.at("stem");
    for (const LayerSpec& layer : layers) {
      if (!LayerActive(layer, meta.config)) continue;
      const std::string block = absl::StrCat("s", layer.stage, ".b", layer.block);
      absl::StatusOr<SubnetConv> conv;
      if (layer.name == "stem") {
        conv = MakeConv(*plan, meta, layer, plan->stem_quant.scale, h_scale);
        if (conv.ok()) s.stem = *std::move(conv);
      } else if (layer.name == "fc") {
        conv = MakeConv(*plan, meta, layer, act.at("pool"), 1.0f);
        if (conv.ok()) s.fc = *std::move(conv);
      } else if (absl::EndsWith(layer.name, ".conv1")) {
        s.blocks.emplace_back();
        s.blocks.back().in_scale = h_scale;
        conv = MakeConv(*plan, meta, layer, h_scale, act.at(layer.name));
        if (conv.ok()) s.blocks.back().conv1 = *std::move(conv);
      } else if (absl::EndsWith(layer.name, ".conv2")) {
        conv = MakeConv(*plan, meta, layer, act.at(block + ".conv1"), act.at(block));
        if (conv.ok()) s.blocks.back().conv2 = *std::move(conv);
        h_scale = act.at(block);
      } else {  // 1x1 shortcut: reads the block input, fp32 output
        conv = MakeConv(*plan, meta, layer, s.blocks.back().in_scale, 1.0f);
        if (conv.ok()) s.blocks.back().shortcut = *std::move(conv);
      }
      if (!conv.ok()) return conv.status();
    }
    s.last_scale = h_scale;
    s.pool_scale = act.at("pool");
    plan->subnets.emplace(meta.id, std::move(s));
  }
  return plan;
}

size_t TernaryPlan::SharedBytes() const {
  size_t bytes = 0;
  for (const auto& [name, p] : packed) bytes += p.bytes();
  for (const auto& [name, scales] : weight_scales) bytes += scales.size() * sizeof(float);
  return bytes;
}

size_t TernaryPlan::EpilogueBytes(const Subnet& s) {
  auto conv_bytes = [](const SubnetConv& c) {
    return (c.multiplier.size() + c.bias.size()) * sizeof(float);
  };
  size_t bytes = conv_bytes(s.stem) + conv_bytes(s.fc);
  for (const SubnetBlock& b : s.blocks) {
    bytes += conv_bytes(b.conv1) + conv_bytes(b.conv2);
    if (b.shortcut) bytes += conv_bytes(*b.shortcut);
  }
  return bytes;
}

const Subnet* TernaryPlan::Find(int subnet_id) const {
  const auto it = subnets.find(subnet_id);
  return it == subnets.end() ? nullptr : &it->second;
}

size_t TernaryPlan::MaxActivationElements(const Subnet& s, int batch) const {
  const BundleMetadata& m = bundle->metadata();
  const SubnetConfig& config = s.meta->config;
  int side = kImageSide;
  size_t max_elements = static_cast<size_t>(batch) * side * side * PaddedChannels(config.widths[0]);
  for (int stage = 0; stage < kNumStages; ++stage) {
    side = (side + m.arch.strides[stage] - 1) / m.arch.strides[stage];
    max_elements = std::max(max_elements, static_cast<size_t>(batch) * side * side *
                                              PaddedChannels(config.widths[stage]));
  }
  return max_elements;
}

}  // namespace ternserve
