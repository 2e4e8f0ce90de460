#include "tests/testing/synthetic_bundle.h"

#include <zlib.h>

#include <cmath>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"

namespace ternserve::testing {

BundleMetadata SyntheticMetadata(const SyntheticBundleOptions& options) {
  BundleMetadata m;
  m.model_name = "synthetic";
  m.arch = options.arch;
  for (int i = 0; i < m.arch.num_classes; ++i) m.labels.push_back(absl::StrCat("class", i));
  m.quantizer = options.ternary ? "twn" : "none";
  m.ternary = options.ternary;
  m.input_mean = 0.25f;
  m.input_std = 0.5f;
  m.recipe = {{"command", "synthetic"}};
  std::vector<SubnetConfig> configs = options.subnets;
  if (configs.empty()) configs = {LargestSubnet(m.arch), SmallestSubnet(m.arch)};
  for (size_t i = 0; i < configs.size(); ++i) {
    SubnetMeta s;
    s.id = static_cast<int>(i);
    s.config = configs[i];
    s.name = SubnetName(configs[i]);
    s.macs = CountMacs(m.arch, configs[i]);
    s.params = CountParams(m.arch, configs[i]);
    s.val_accuracy = 0.5 + 0.01 * i;
    s.test_accuracy = 0.6 + 0.01 * i;
    s.sparsity = 0.3;
    m.subnets.push_back(s);
  }
  return m;
}

BundleWriter SyntheticWriter(const SyntheticBundleOptions& options) {
  const BundleMetadata m = SyntheticMetadata(options);
  std::mt19937 rng(options.seed);
  std::uniform_int_distribution<int> code(-1, 1);
  std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
  auto floats = [&](int64_t n, float scale) {
    std::vector<float> v(n);
    for (float& x : v) x = scale * uniform(rng);
    return v;
  };
  BundleWriter writer(m);
  for (const LayerSpec& layer : SupernetLayers(m.arch)) {
    std::vector<int64_t> shape = {layer.out_channels, layer.in_channels};
    if (layer.name != "fc") shape.insert(shape.end(), {layer.kernel, layer.kernel});
    const int64_t n = layer.out_channels * layer.RowLength();
    const float he = 1.0f / std::sqrt(static_cast<float>(layer.RowLength()));
    if (options.ternary) {
      std::vector<int8_t> t(n);
      for (int8_t& x : t) x = static_cast<int8_t>(code(rng));
      (void)writer.AddTernary(layer.name + ".codes", shape, t);
      (void)writer.AddFloat(layer.name + ".scale", {layer.out_channels},
                            floats(layer.out_channels, he));
    } else {
      (void)writer.AddFloat(layer.name + ".weight", shape, floats(n, he));
    }
  }
  (void)writer.AddFloat("fc.bias", {m.arch.num_classes}, floats(m.arch.num_classes, 0.1f));
  for (const SubnetMeta& s : m.subnets) {
    for (const LayerSpec& layer : SupernetLayers(m.arch)) {
      if (layer.bn_name.empty() || !LayerActive(layer, s.config)) continue;
      const int c = SlicedOut(layer, s.config);
      const std::string prefix = absl::StrCat("subnet.", s.id, ".", layer.bn_name);
      (void)writer.AddFloat(prefix + ".scale", {c}, floats(c, 1.0f));
      (void)writer.AddFloat(prefix + ".shift", {c}, floats(c, 0.1f));
    }
  }
  return writer;
}

std::string SyntheticBundleBytes(const SyntheticBundleOptions& options) {
  return SyntheticWriter(options).Serialize();
}

void FixChecksum(std::string* b) {
  const size_t checked = b->size() - kBundleTrailerBytes;
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(b->data()), static_cast<uInt>(checked)));
  std::memcpy(b->data() + checked, &crc, sizeof(crc));
}

std::unique_ptr<Bundle> CalibratedSyntheticBundle() {
  BundleWriter writer = SyntheticWriter({});
  for (SubnetMeta& s : writer.metadata().subnets) {
    for (const std::string& name : ActivationNames(writer.metadata().arch, s.config)) {
      s.activation_scales[name] = 0.05f;
    }
  }
  absl::StatusOr<std::unique_ptr<Bundle>> bundle =
      Bundle::FromBytes(writer.Serialize(), "synthetic.tsn");
  if (!bundle.ok()) return nullptr;
  return *std::move(bundle);
}

}  // namespace ternserve::testing
