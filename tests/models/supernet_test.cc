// The SuperNet's elastic forward against independently built static networks, and the export path
// (SuperNet -> bundle -> TorchEngine) against the SuperNet.
#include "models/supernet.h"

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "models/bundle.h"
#include "models/export.h"
#include "models/static_net.h"
#include "models/torch_engine.h"

namespace ternserve {
namespace {

namespace nn = torch::nn;

// A plain ResNet of one sub-net's exact shape, built from stock torch::nn modules: the oracle that
// WeightSlice and LayerSelect must reproduce.
struct SmallResNetImpl : nn::Module {
  struct Block {
    nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
    nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, shortcut_bn{nullptr};
  };
  nn::Conv2d stem{nullptr};
  nn::BatchNorm2d stem_bn{nullptr};
  std::vector<Block> blocks;
  nn::Linear fc{nullptr};

  explicit SmallResNetImpl(const SubnetConfig& s) {
    auto conv = [&](int in, int out, int k, int stride, const std::string& name) {
      return register_module(
          name,
          nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false)));
    };
    auto bn = [&](int c, const std::string& name) {
      return register_module(name, nn::BatchNorm2d(c));
    };
    stem = conv(1, s.widths[0], 3, 1, "stem");
    stem_bn = bn(s.widths[0], "stem_bn");
    int in = s.widths[0];
    for (int st = 0; st < 3; ++st) {
      for (int b = 0; b < s.depths[st]; ++b) {
        const int w = s.widths[st], stride = (b == 0 && st > 0) ? 2 : 1;
        const std::string p = "s" + std::to_string(st) + "b" + std::to_string(b);
        Block block;
        block.conv1 = conv(in, w, 3, stride, p + "c1");
        block.bn1 = bn(w, p + "bn1");
        block.conv2 = conv(w, w, 3, 1, p + "c2");
        block.bn2 = bn(w, p + "bn2");
        if (stride != 1 || in != w) {
          block.shortcut = conv(in, w, 1, stride, p + "sc");
          block.shortcut_bn = bn(w, p + "scbn");
        }
        blocks.push_back(block);
        in = w;
      }
    }
    fc = register_module("fc", nn::Linear(in, 10));
  }

  torch::Tensor forward(torch::Tensor x) {
    x = (x - kFashionMnistMean) / kFashionMnistStd;
    x = torch::relu(stem_bn(stem(x)));
    for (Block& b : blocks) {
      torch::Tensor y = b.bn2(b.conv2(torch::relu(b.bn1(b.conv1(x)))));
      x = torch::relu(y + (b.shortcut ? b.shortcut_bn(b.shortcut(x)) : x));
    }
    return fc(x.mean({2, 3}));
  }
};
TORCH_MODULE(SmallResNet);

// Copies the sub-net's slice of every weight, BN parameter and statistic into `small`.
void CopySlices(Supernet& net, const SubnetConfig& s, const BnStats& stats, SmallResNet& small) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<nn::Conv2d, nn::BatchNorm2d>> targets = {{small->stem, small->stem_bn}};
  for (auto& b : small->blocks) {
    targets.push_back({b.conv1, b.bn1});
    targets.push_back({b.conv2, b.bn2});
    if (b.shortcut) targets.push_back({b.shortcut, b.shortcut_bn});
  }
  size_t next = 0;
  for (const LayerSpec& layer : net->layers()) {
    if (!LayerActive(layer, s)) continue;
    const torch::Tensor w = net->QuantizedWeight(layer.name)
                                .narrow(0, 0, SlicedOut(layer, s))
                                .narrow(1, 0, SlicedIn(layer, s));
    if (layer.name == "fc") {
      small->fc->weight.copy_(w);
      small->fc->bias.copy_(net->fc_bias());
      continue;
    }
    auto& [conv, bn] = targets.at(next++);
    ASSERT_EQ(conv->weight.sizes(), w.sizes()) << layer.name;
    conv->weight.copy_(w);
    const int64_t c = w.size(0);
    bn->weight.copy_(net->bn_gamma(layer.bn_name).narrow(0, 0, c));
    bn->bias.copy_(net->bn_beta(layer.bn_name).narrow(0, 0, c));
    bn->running_mean.copy_(stats.mean.at(layer.bn_name));
    bn->running_var.copy_(stats.var.at(layer.bn_name));
    bn->options.eps(kBnEpsilon);
  }
  EXPECT_EQ(next, targets.size());
}

// A SuperNet whose BN parameters are not the identity, so slicing mistakes in them would show.
Supernet RandomSupernet(QuantizerKind quantizer) {
  torch::manual_seed(3);
  Supernet net(ArchConfig{}, quantizer);
  torch::NoGradGuard no_grad;
  for (const LayerSpec& layer : net->layers()) {
    if (layer.bn_name.empty()) continue;
    net->bn_gamma(layer.bn_name).uniform_(0.5, 1.5);
    net->bn_beta(layer.bn_name).uniform_(-0.2, 0.2);
  }
  net->fc_bias().uniform_(-0.1, 0.1);
  return net;
}

std::vector<SubnetConfig> SomeSubnets() {
  const ArchConfig arch;
  return {LargestSubnet(arch),
          SmallestSubnet(arch),
          {{1, 2, 3}, {8, 48, 128}},
          {{3, 1, 2}, {32, 16, 96}}};
}

class SupernetSliceTest : public ::testing::TestWithParam<QuantizerKind> {};

TEST_P(SupernetSliceTest, SubnetEqualsSeparatelyBuiltNetwork) {
  Supernet net = RandomSupernet(GetParam());
  net->eval();
  const torch::Tensor images = torch::rand({16, 1, 28, 28});
  for (const SubnetConfig& s : SomeSubnets()) {
    SCOPED_TRACE(SubnetName(s));
    const BnStats stats = CalibrateBn(net, s, images, 8);
    SmallResNet small(s);
    CopySlices(net, s, stats, small);
    small->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor expected = small->forward(images);
    const torch::Tensor actual = net->forward(images, s, BnMode::kStats, &stats);
    EXPECT_TRUE(torch::allclose(actual, expected, 1e-4, 1e-4))
        << "max |diff| " << (actual - expected).abs().max().item<float>();
    // The folded static network computes the same function.
    const torch::Tensor folded = StaticNetFromSupernet(net, s, stats).Forward(images);
    EXPECT_TRUE(torch::allclose(folded, expected, 1e-4, 1e-4))
        << "max |diff| " << (folded - expected).abs().max().item<float>();
  }
}

INSTANTIATE_TEST_SUITE_P(Quantizers, SupernetSliceTest,
                         ::testing::Values(QuantizerKind::kNone, QuantizerKind::kTwn));

TEST(SupernetTest, CalibrateBnMeasuresTheSubnetsOwnStatistics) {
  Supernet net = RandomSupernet(QuantizerKind::kNone);
  const SubnetConfig s = SmallestSubnet(ArchConfig{});
  const torch::Tensor images = torch::rand({12, 1, 28, 28});
  const BnStats stats = CalibrateBn(net, s, images, 5);  // uneven batches: 5 + 5 + 2
  torch::NoGradGuard no_grad;
  const torch::Tensor stem_out = torch::conv2d((images - kFashionMnistMean) / kFashionMnistStd,
                                               net->weight("stem").narrow(0, 0, 8), {}, 1, 1);
  EXPECT_TRUE(torch::allclose(stats.mean.at("stem.bn"), stem_out.mean({0, 2, 3}), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(stats.var.at("stem.bn"), stem_out.var({0, 2, 3}, /*unbiased=*/false),
                              1e-4, 1e-5));
  EXPECT_EQ(stats.mean.at("s2.b0.bn1").size(0), 32);
  EXPECT_EQ(stats.mean.count("s2.b1.bn1"), 0u);  // inactive block: no statistics
}

TEST(ExportTest, BundleServedByTorchEngineMatchesTheSupernet) {
  for (QuantizerKind quantizer : {QuantizerKind::kTwn, QuantizerKind::kNone}) {
    Supernet net = RandomSupernet(quantizer);
    net->eval();
    const torch::Tensor images = torch::rand({6, 1, 28, 28});
    std::vector<ExportSubnet> subnets;
    for (const SubnetConfig& s : SomeSubnets()) {
      ExportSubnet e;
      e.meta.id = static_cast<int>(subnets.size()) * 10 + 1;  // ids need not be dense
      e.meta.config = s;
      e.meta.val_accuracy = 0.5;
      e.meta.test_accuracy = 0.5;
      e.stats = CalibrateBn(net, s, images, 6);
      subnets.push_back(std::move(e));
    }
    BundleMetadata metadata;
    metadata.model_name = "export-test";
    metadata.labels = std::vector<std::string>(10, "x");
    metadata.input_mean = kFashionMnistMean;
    metadata.input_std = kFashionMnistStd;
    const std::string path = ::testing::TempDir() + "/export.tsn";
    ASSERT_TRUE(WriteBundle(net, subnets, metadata, images, path).ok());
    absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(path);
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    EXPECT_EQ((*bundle)->metadata().quantizer, QuantizerName(quantizer));
    absl::StatusOr<std::unique_ptr<Engine>> engine = CreateTorchEngine(**bundle);
    ASSERT_TRUE(engine.ok()) << engine.status();
    const torch::Tensor x = images.contiguous();
    for (const ExportSubnet& e : subnets) {
      SCOPED_TRACE(e.meta.name);
      const SubnetMeta* meta = (*bundle)->FindSubnet(e.meta.id);
      ASSERT_NE(meta, nullptr);
      EXPECT_EQ(meta->macs, CountMacs(ArchConfig{}, e.meta.config));
      // Every u8 activation the ternary engine requantizes has a calibrated scale.
      const std::vector<std::string> names = ActivationNames(ArchConfig{}, e.meta.config);
      ASSERT_EQ(meta->activation_scales.size(), names.size());
      for (const std::string& name : names) EXPECT_GT(meta->activation_scales.at(name), 0.0f);
      if (quantizer == QuantizerKind::kTwn) {
        EXPECT_GT(meta->sparsity, 0.1);
        EXPECT_LT(meta->sparsity, 0.9);
      }
      absl::StatusOr<LogitsView> logits =
          (*engine)->Run(e.meta.id, absl::MakeConstSpan(x.data_ptr<float>(), x.numel()), 6);
      ASSERT_TRUE(logits.ok()) << logits.status();
      torch::NoGradGuard no_grad;
      const torch::Tensor expected = net->forward(images, e.meta.config, BnMode::kStats, &e.stats);
      std::vector<float> rows = logits->ToVector();
      const torch::Tensor actual = torch::from_blob(rows.data(), {6, 10});
      EXPECT_TRUE(torch::allclose(actual, expected, 1e-4, 1e-4))
          << "max |diff| " << (actual - expected).abs().max().item<float>();
    }
    EXPECT_EQ((*engine)
                  ->Run(12345, absl::MakeConstSpan(x.data_ptr<float>(), x.numel()), 6)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ((*engine)
                  ->Run(subnets[0].meta.id, absl::MakeConstSpan(x.data_ptr<float>(), 100), 6)
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace ternserve
