// Channel sorting keeps the function and orders channels; a checkpoint restores a run exactly;
// every quantizer trains (loss falls on a tiny problem).
#include "models/train_loop.h"

#include <torch/torch.h>

#include <fstream>
#include <map>
#include <random>
#include <string>

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

TEST(TrainLoopTest, SavingLeavesNoPartialFilesAndReplacesTheLastCheckpoint) {
  const Split train = RandomSplit(16, 2);
  const std::string prefix = ::testing::TempDir() + "/atomic.ckpt";
  TrainOptions options = TinyOptions("tga");
  Supernet net(ArchConfig{}, QuantizerKind::kTga);
  TrainLoop loop(options, net, train.size());
  ASSERT_TRUE(loop.Save(prefix, 0).ok());
  loop.RunEpoch(0, train);
  ASSERT_TRUE(loop.Save(prefix, 1).ok());
  for (const char* suffix : {"", ".opt", ".thr", ".json"}) {
    EXPECT_TRUE(std::ifstream(prefix + suffix).good()) << suffix;
    EXPECT_FALSE(std::ifstream(prefix + suffix + ".saving").good()) << suffix;
  }
  absl::StatusOr<CheckpointProgress> progress = ReadCheckpointProgress(prefix, net);
  ASSERT_TRUE(progress.ok()) << progress.status();
  EXPECT_EQ(progress->epochs_done, 1);
}

TEST(TrainLoopTest, AnScaCheckpointOfAnotherAIsRefused) {
  const Split train = RandomSplit(16, 3);
  const std::string prefix = ::testing::TempDir() + "/sca.ckpt";
  TrainOptions options = TinyOptions("sca");
  Supernet net(ArchConfig{}, QuantizerKind::kSca, TgaScope::kChannel, 0.4);
  TrainLoop loop(options, net, train.size());
  ASSERT_TRUE(loop.Save(prefix, 1).ok());
  Supernet same(ArchConfig{}, QuantizerKind::kSca, TgaScope::kChannel, 0.4);
  EXPECT_TRUE(ReadCheckpointProgress(prefix, same).ok());
  Supernet other(ArchConfig{}, QuantizerKind::kSca, TgaScope::kChannel, 1.2);
  const absl::Status refused = ReadCheckpointProgress(prefix, other).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("--sca_a=0.4"), std::string::npos) << refused;
}

TEST(TrainLoopTest, InitializeFromCopiesAnotherRunsWeightsIntoATernaryNet) {
  const Split train = RandomSplit(16, 5);
  const std::string prefix = ::testing::TempDir() + "/fp32.ckpt";
  TrainOptions options = TinyOptions("none");
  Supernet fp32(ArchConfig{}, QuantizerKind::kNone);
  TrainLoop loop(options, fp32, train.size());
  loop.RunEpoch(0, train);
  ASSERT_TRUE(loop.Save(prefix, 1).ok());

  torch::manual_seed(99);  // another random initialization, which must be overwritten
  Supernet tga(ArchConfig{}, QuantizerKind::kTga, TgaScope::kChannelSigma);
  ASSERT_TRUE(InitializeFrom(prefix, tga).ok());
  for (const LayerSpec& layer : tga->layers()) {
    EXPECT_TRUE(torch::equal(tga->weight(layer.name), fp32->weight(layer.name))) << layer.name;
    if (!layer.bn_name.empty()) {
      EXPECT_TRUE(torch::equal(tga->bn_gamma(layer.bn_name), fp32->bn_gamma(layer.bn_name)));
    }
  }
  EXPECT_TRUE(torch::equal(tga->fc_bias(), fp32->fc_bias()));
  // The thresholds follow the copied weights.
  const torch::Tensor expected = TgaInitialDelta(fp32->weight("stem"), TgaScope::kChannelSigma);
  bool found = false;
  for (const auto& item : tga->named_parameters()) {
    if (item.key() == "stem_delta") {
      found = true;
      EXPECT_TRUE(torch::allclose(item.value(), expected));
    }
  }
  EXPECT_TRUE(found);
  // A ternary loop trains on from there.
  TrainLoop fine_tune(TinyOptions("tga"), tga, train.size());
  fine_tune.RunEpoch(0, train);

  EXPECT_EQ(InitializeFrom(prefix + ".missing", tga).code(), absl::StatusCode::kNotFound);

  // An SCA target: tanh(Theta) is W over 2 sigma of its channel (the classifier: of the layer,
  // and its bias divided alike), where that is below 0.995 in magnitude.
  Supernet sca(ArchConfig{}, QuantizerKind::kSca, TgaScope::kChannel, 0.4);
  ASSERT_TRUE(InitializeFrom(prefix, sca).ok());
  for (const char* name : {"s1.b0.conv1", "fc"}) {
    SCOPED_TRACE(name);
    const torch::Tensor w = fp32->weight(name).reshape({fp32->weight(name).size(0), -1});
    const torch::Tensor sigma = std::string(name) == "fc"
                                    ? w.std(/*unbiased=*/false).expand({w.size(0), 1})
                                    : w.std(1, /*unbiased=*/false, /*keepdim=*/true);
    const torch::Tensor u = w / (2 * sigma);
    const torch::Tensor tanh = torch::tanh(sca->weight(name)).reshape(u.sizes());
    const torch::Tensor inside = u.abs() < 0.995;
    EXPECT_GT(inside.to(torch::kFloat32).mean().item<float>(), 0.9);
    EXPECT_TRUE(torch::allclose(tanh.masked_select(inside), u.masked_select(inside), 1e-4, 1e-5));
    EXPECT_TRUE(torch::allclose(tanh.masked_select(~inside).abs(),
                                torch::full({(~inside).sum().item<int64_t>()}, 0.995f), 1e-4));
    if (std::string(name) == "fc") {
      EXPECT_TRUE(torch::allclose(sca->fc_bias(), fp32->fc_bias() / (2 * sigma[0][0]), 1e-4));
    }
  }
}

TEST(TrainLoopTest, AlternatingTgaUpdateStepsTheThresholdsOnAPassOfTheirOwn) {
  // One step each from the same start: "joint" steps the thresholds and the weights from one
  // pass; "alternate" steps the thresholds first, so the weights' pass sees the new thresholds
  // and the weights end elsewhere. Either way both move.
  const Split train = RandomSplit(8, 6);
  std::map<std::string, std::map<std::string, torch::Tensor>> after;
  torch::manual_seed(7);
  Supernet start(ArchConfig{}, QuantizerKind::kTga, TgaScope::kChannelSigma);
  for (const std::string mode : {"joint", "alternate"}) {
    Supernet net(ArchConfig{}, QuantizerKind::kTga, TgaScope::kChannelSigma);
    {
      torch::NoGradGuard no_grad;
      for (const auto& item : start->named_parameters())
        net->named_parameters()[item.key()].copy_(item.value());
    }
    TrainOptions options = TinyOptions("tga");
    options.tga_update = mode;
    options.threshold_batch = 4;
    options.threshold_lr = 1e-2;
    options.max_steps = 1;
    TrainLoop loop(options, net, train.size());
    loop.RunEpoch(0, train);
    for (const auto& item : net->named_parameters())
      after[mode][item.key()] = item.value().detach().clone();
  }
  for (const std::string mode : {"joint", "alternate"}) {
    EXPECT_FALSE(torch::equal(after[mode]["stem_delta"], start->named_parameters()["stem_delta"]))
        << mode;
    EXPECT_FALSE(torch::equal(after[mode]["s1_b0_conv1_weight"],
                              start->named_parameters()["s1_b0_conv1_weight"]))
        << mode;
  }
  EXPECT_FALSE(
      torch::equal(after["joint"]["s1_b0_conv1_weight"], after["alternate"]["s1_b0_conv1_weight"]));
}

TEST(TrainLoopTest, ATeacherIdenticalToTheStudentTeachesNothingNew) {
  // kd_weight = 1: the largest sub-net's loss is the KL divergence from the teacher alone, 0 for a
  // teacher that is the student itself (same weights, same batch statistics); kd_weight = 0: the
  // cross-entropy, as without a teacher.
  const Split train = RandomSplit(8, 8);
  const std::string prefix = ::testing::TempDir() + "/teacher.ckpt";
  torch::manual_seed(9);
  Supernet teacher(ArchConfig{}, QuantizerKind::kNone);
  TrainOptions options = TinyOptions("none");
  options.max_steps = 1;
  TrainLoop saver(options, teacher, train.size());
  ASSERT_TRUE(saver.Save(prefix, 0).ok());
  absl::StatusOr<Supernet> loaded = LoadCheckpointedSupernet(prefix, ArchConfig{}, "--teacher");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(
      LoadCheckpointedSupernet(prefix + ".missing", ArchConfig{}, "--teacher").status().code(),
      absl::StatusCode::kNotFound);

  double losses[2];
  for (int i = 0; i < 2; ++i) {
    Supernet student(ArchConfig{}, QuantizerKind::kNone);
    ASSERT_TRUE(InitializeFrom(prefix, student).ok());
    TrainOptions o = options;
    o.kd_weight = i == 0 ? 1.0 : 0.0;
    o.random_erasing = 0.5;  // the teacher sees the same erased images
    TrainLoop loop(o, student, train.size());
    loop.SetTeacher(*loaded);
    losses[i] = loop.RunEpoch(0, train);
  }
  EXPECT_NEAR(losses[0], 0.0, 1e-5);
  EXPECT_GT(losses[1], 1.0);  // ten classes, an untrained net: cross-entropy near ln 10
}

TEST(TrainDataTest, RandomErasingZeroesOneRectanglePerChosenImage) {
  const torch::Tensor x = torch::ones({64, 1, 28, 28});
  std::mt19937_64 rng(1), untouched(1);
  EXPECT_TRUE(torch::equal(RandomErase(x, 0.0, rng), x));
  EXPECT_EQ(rng(), untouched());  // p = 0 draws nothing
  const torch::Tensor erased = RandomErase(x, 1.0, rng);
  EXPECT_TRUE(torch::equal(x, torch::ones_like(x)));  // the input is not modified
  for (int64_t i = 0; i < 64; ++i) {
    const torch::Tensor zero = erased[i][0].eq(0);
    const int64_t area = zero.sum().item<int64_t>();
    // 2% to 33% of 784 pixels, rounded sides; one rectangle: its bounding box is all of it.
    EXPECT_GE(area, 10) << i;
    EXPECT_LE(area, 300) << i;
    const torch::Tensor rows = zero.any(1).nonzero(), cols = zero.any(0).nonzero();
    const int64_t h = rows.max().item<int64_t>() - rows.min().item<int64_t>() + 1;
    const int64_t w = cols.max().item<int64_t>() - cols.min().item<int64_t>() + 1;
    EXPECT_EQ(h * w, area) << i;
  }
  std::mt19937_64 half(2);
  const torch::Tensor some = RandomErase(torch::ones({400, 1, 28, 28}), 0.5, half);
  const int64_t touched = some.eq(0).flatten(1).any(1).sum().item<int64_t>();
  EXPECT_GT(touched, 150);
  EXPECT_LT(touched, 250);
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
