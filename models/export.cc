#include "models/export.h"

#include "absl/strings/str_cat.h"
#include "models/quantizer.h"
#include "models/static_net.h"

namespace ternserve {
namespace {

std::vector<float> ToFloats(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

std::vector<int64_t> Shape(const torch::Tensor& t) { return t.sizes().vec(); }

}  // namespace

absl::Status WriteBundle(Supernet& net, std::vector<ExportSubnet>& subnets,
                         BundleMetadata& metadata, const torch::Tensor& calib_images,
                         const std::string& path) {
  torch::NoGradGuard no_grad;
  const bool ternary = net->quantizer() != QuantizerKind::kNone;
  metadata.arch = net->arch();
  metadata.quantizer = QuantizerName(net->quantizer());
  metadata.ternary = ternary;

  // Codes of every layer at full shape, for the file and for each sub-net's sparsity.
  std::map<std::string, TernaryWeight> ternarized;
  if (ternary) {
    for (const LayerSpec& layer : net->layers())
      ternarized[layer.name] = net->Ternarize(layer.name);
  }
  metadata.subnets.clear();
  for (ExportSubnet& s : subnets) {
    const SubnetConfig& config = s.meta.config;
    s.meta.name = SubnetName(config);
    s.meta.macs = CountMacs(net->arch(), config);
    s.meta.params = CountParams(net->arch(), config);
    int64_t zeros = 0, total = 0;
    for (const LayerSpec& layer : net->layers()) {
      if (!ternary || !LayerActive(layer, config)) continue;
      const torch::Tensor codes = ternarized[layer.name]
                                      .codes.narrow(0, 0, SlicedOut(layer, config))
                                      .narrow(1, 0, SlicedIn(layer, config));
      zeros += codes.eq(0).sum().item<int64_t>();
      total += codes.numel();
    }
    s.meta.sparsity = total == 0 ? 0.0 : static_cast<double>(zeros) / total;
    s.meta.activation_scales =
        CalibrateActivationScales(StaticNetFromSupernet(net, config, s.stats), calib_images);
    metadata.subnets.push_back(s.meta);
  }

  BundleWriter writer(metadata);
  for (const LayerSpec& layer : net->layers()) {
    const torch::Tensor& w = net->weight(layer.name);
    if (ternary) {
      const TernaryWeight& q = ternarized[layer.name];
      const torch::Tensor codes = q.codes.contiguous();
      std::vector<int8_t> t(codes.data_ptr<int8_t>(), codes.data_ptr<int8_t>() + codes.numel());
      if (auto st = writer.AddTernary(layer.name + ".codes", Shape(w), t); !st.ok()) return st;
      if (auto st = writer.AddFloat(layer.name + ".scale", {layer.out_channels}, ToFloats(q.scale));
          !st.ok()) {
        return st;
      }
    } else if (auto st = writer.AddFloat(layer.name + ".weight", Shape(w), ToFloats(w)); !st.ok()) {
      return st;
    }
  }
  if (auto st = writer.AddFloat("fc.bias", {net->arch().num_classes}, ToFloats(net->fc_bias()));
      !st.ok()) {
    return st;
  }
  for (const ExportSubnet& s : subnets) {
    for (const LayerSpec& layer : net->layers()) {
      if (layer.bn_name.empty() || !LayerActive(layer, s.meta.config)) continue;
      torch::Tensor scale, shift;
      FoldBn(net, layer, s.meta.config, s.stats, &scale, &shift);
      const std::string prefix = absl::StrCat("subnet.", s.meta.id, ".", layer.bn_name);
      if (auto st = writer.AddFloat(prefix + ".scale", {scale.numel()}, ToFloats(scale)); !st.ok())
        return st;
      if (auto st = writer.AddFloat(prefix + ".shift", {shift.numel()}, ToFloats(shift)); !st.ok())
        return st;
    }
  }
  return writer.WriteFile(path);
}

absl::Status RecalibrateBundle(const std::string& in, const torch::Tensor& calib_images,
                               const std::string& out) {
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(in);
  if (!bundle.ok()) return bundle.status();
  BundleWriter writer = BundleWriter::CopyOf(**bundle);
  for (SubnetMeta& subnet : writer.metadata().subnets) {
    subnet.activation_scales =
        CalibrateActivationScales(StaticNetFromBundle(**bundle, subnet), calib_images);
  }
  return writer.WriteFile(out);
}

}  // namespace ternserve
