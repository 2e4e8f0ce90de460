// Channel sorting keeps the function and orders channels; a checkpoint restores a run exactly;
// every quantizer trains (loss falls on a tiny problem).
#include "models/train_loop.h"

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "models/channel_sort.h"

namespace ternserve {
namespace {

Split RandomSplit(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  return {torch::rand({n, 1, 28, 28}), torch::randint(0, 10, {n}, torch::kInt64)};
}

TrainOptions TinyOptions(const std::string& quantizer) {
  TrainOptions o;
  o.quantizer = quantizer;
  o.epochs = 2;
  o.warmup_epochs = 1;
  o.batch_size = 8;
  o.lr = 0.05;
  return o;
}

TEST(ChannelSortTest, KeepsTheLargestSubnetsFunctionAndSortsChannels) {
  for (QuantizerKind kind : {QuantizerKind::kNone, QuantizerKind::kTwn, QuantizerKind::kTga}) {
    torch::manual_seed(4);
    Supernet net(ArchConfig{}, kind);
    {
      torch::NoGradGuard no_grad;
      for (const LayerSpec& l : net->layers()) {
        if (!l.bn_name.empty()) net->bn_gamma(l.bn_name).uniform_(0.2, 2.0);
      }
    }
    net->eval();
    const torch::Tensor x = torch::rand({4, 1, 28, 28});
    const SubnetConfig largest = LargestSubnet(ArchConfig{});
    torch::NoGradGuard no_grad;
    // Batch statistics: the function is invariant to a consistent permutation of channels.
    const torch::Tensor before = net->forward(x, largest, BnMode::kBatch);
    SortChannelsByImportance(net);
    const torch::Tensor after = net->forward(x, largest, BnMode::kBatch);
    EXPECT_TRUE(torch::allclose(before, after, 1e-4, 1e-4))
        << QuantizerName(kind) << " max |diff| " << (before - after).abs().max().item<float>();
    // Hidden channels of a block are in decreasing importance.
    const torch::Tensor score = net->weight("s1.b1.conv1").reshape({64, -1}).abs().sum(1) *
                                net->bn_gamma("s1.b1.bn1").abs();
    EXPECT_TRUE(torch::equal(score, std::get<0>(score.sort(0, /*descending=*/true))));
  }
}

TEST(TrainLoopTest, CheckpointRestoresTheRun) {
  const Split train = RandomSplit(32, 1);
  const std::string prefix = ::testing::TempDir() + "/loop.ckpt";
  TrainOptions options = TinyOptions("tga");
  Supernet net(ArchConfig{}, QuantizerKind::kTga);
  TrainLoop loop(options, net, train.size());
  loop.RunEpoch(0, train);
  ASSERT_TRUE(loop.Save(prefix, 1).ok());

  Supernet restored_net(ArchConfig{}, QuantizerKind::kTga);
  TrainLoop restored(options, restored_net, train.size());
  absl::StatusOr<int> epochs = restored.Load(prefix);
  ASSERT_TRUE(epochs.ok()) << epochs.status();
  EXPECT_EQ(*epochs, 1);
  EXPECT_EQ(restored.step(), loop.step());
  const auto a = net->named_parameters(), b = restored_net->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  // Both continue identically (same batches, same optimizer state).
  loop.RunEpoch(1, train);
  restored.RunEpoch(1, train);
  for (const auto& item : a)
    EXPECT_TRUE(torch::allclose(item.value(), b[item.key()])) << item.key();

  Supernet twn(ArchConfig{}, QuantizerKind::kTwn);
  TrainLoop wrong(TinyOptions("twn"), twn, train.size());
  EXPECT_EQ(wrong.Load(prefix).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wrong.Load(prefix + ".missing").status().code(), absl::StatusCode::kNotFound);
  // A per-channel TGA checkpoint does not resume a per-layer run.
  Supernet layer_net(ArchConfig{}, QuantizerKind::kTga, TgaScope::kLayer);
  TrainLoop layer_loop(options, layer_net, train.size());
  EXPECT_EQ(layer_loop.Load(prefix).status().code(), absl::StatusCode::kInvalidArgument);
  // The same check guards --export_from.
  EXPECT_EQ(ReadCheckpointProgress(prefix, layer_net).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<CheckpointProgress> progress = ReadCheckpointProgress(prefix, restored_net);
  ASSERT_TRUE(progress.ok()) << progress.status();
  EXPECT_EQ(progress->epochs_done, 1);
  EXPECT_EQ(progress->step, loop.steps_per_epoch());  // saved after the first epoch
}

// Uniform images whose brightness is the label: learnable whatever the augmentation does.
Split BrightnessSplit(int64_t n) {
  const torch::Tensor labels = torch::arange(n, torch::kInt64) % 10;
  const torch::Tensor images = (labels.to(torch::kFloat32) / 10 + 0.05)
                                   .reshape({n, 1, 1, 1})
                                   .expand({n, 1, 28, 28})
                                   .contiguous();
  return {images, labels};
}

TEST(TrainLoopTest, EveryQuantizerLearnsATinyProblem) {
  const Split train = BrightnessSplit(32);
  for (const char* name : {"tga", "sca", "twn", "none"}) {
    TrainOptions options = TinyOptions(name);
    options.epochs = 12;
    options.warmup_epochs = 12;
    Supernet net(ArchConfig{}, *ParseQuantizer(name));
    TrainLoop loop(options, net, train.size());
    const double first = loop.RunEpoch(0, train);
    double last = first;
    for (int e = 1; e < options.epochs; ++e) last = loop.RunEpoch(e, train);
    EXPECT_LT(last, first * 0.8) << name << ": " << first << " -> " << last;
  }
}

}  // namespace
}  // namespace ternserve
