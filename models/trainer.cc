#include "models/trainer.h"

#include <chrono>
#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "models/export.h"
#include "models/fashion_mnist.h"
#include "models/supernet.h"
#include "spdlog/spdlog.h"

namespace ternserve {
namespace {

constexpr int kValidationImages = 5000;  // the last 5,000 training images (DESIGN.md "Data")
constexpr int kEvalBatch = 500;

struct Split {
  torch::Tensor images;  // [N, 1, 28, 28] float in [0, 1]
  torch::Tensor labels;  // [N] int64
};

Split ToTensors(const ImageSet& set, int64_t begin, int64_t end) {
  const int64_t n = end - begin;
  torch::Tensor pixels =
      torch::from_blob(const_cast<uint8_t*>(set.pixels.data()) + begin * kImagePixels,
                       {n, 1, 28, 28}, torch::kUInt8)
          .to(torch::kFloat32)
          .div_(255.0);
  torch::Tensor labels =
      torch::from_blob(const_cast<uint8_t*>(set.labels.data()) + begin, {n}, torch::kUInt8)
          .to(torch::kInt64);
  return {pixels, labels};
}

Split Head(const Split& s, int64_t n) {
  if (n <= 0 || n >= s.images.size(0)) return s;
  return {s.images.narrow(0, 0, n), s.labels.narrow(0, 0, n)};
}

// Random translation by up to 2 pixels (zero padding) and a random horizontal flip, per image.
torch::Tensor Augment(const torch::Tensor& x, std::mt19937_64& rng) {
  const int64_t n = x.size(0);
  const torch::Tensor padded = torch::constant_pad_nd(x, {2, 2, 2, 2}, 0.0);
  std::uniform_int_distribution<int> shift(0, 4);
  std::vector<torch::Tensor> crops;
  crops.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    crops.push_back(padded[i].narrow(1, shift(rng), 28).narrow(2, shift(rng), 28));
  }
  torch::Tensor out = torch::stack(crops);
  const torch::Tensor flip = torch::rand({n, 1, 1, 1}) < 0.5;
  return torch::where(flip, out.flip({3}), out);
}

std::string Duration(double seconds) {
  const int s = static_cast<int>(seconds);
  return s >= 3600 ? absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60)
                   : absl::StrFormat("%dm%02ds", s / 60, s % 60);
}

std::vector<SubnetConfig> ExportSet(const ArchConfig& arch, const std::string& which) {
  if (which == "extremes") return {LargestSubnet(arch), SmallestSubnet(arch)};
  // A spread of uniform sub-nets from the smallest to the largest (Pareto selection comes with the
  // real recipe).
  const std::vector<std::pair<int, double>> points = {{1, 0.25}, {1, 0.5},  {2, 0.5},
                                                      {2, 0.75}, {3, 0.75}, {3, 1.0}};
  std::vector<SubnetConfig> out;
  for (const auto& [depth, mult] : points) {
    SubnetConfig s;
    for (int i = 0; i < kNumStages; ++i) {
      s.depths[i] = depth;
      s.widths[i] = arch.StageWidth(i, mult);
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace

absl::Status RunTraining(TrainOptions options) {
  if (options.tiny) {
    options.epochs = 1;
    options.warmup_epochs = 0;
    options.batch_size = 32;
    options.max_steps = std::max(options.max_steps, 4);
    options.train_images = 1024;
    options.calib_images = 256;
    options.eval_images = 256;
    options.subnets = "extremes";
  }
  if (options.out.empty()) return absl::InvalidArgumentError("--out is required");
  if (options.epochs < 1 || options.warmup_epochs < 0 || options.warmup_epochs > options.epochs) {
    return absl::InvalidArgumentError("need epochs >= 1 and 0 <= warmup_epochs <= epochs");
  }
  if (options.batch_size < 2 || options.lr <= 0 || options.threads < 1 ||
      options.calib_images < 2) {
    return absl::InvalidArgumentError(
        "need batch_size >= 2, lr > 0, threads >= 1 and calib_images >= 2");
  }
  if (options.subnets != "spread" && options.subnets != "extremes") {
    return absl::InvalidArgumentError(
        absl::StrCat("--subnets=", options.subnets, ": expected spread or extremes"));
  }
  absl::StatusOr<QuantizerKind> quantizer = ParseQuantizer(options.quantizer);
  if (!quantizer.ok()) return quantizer.status();

  absl::StatusOr<ImageSet> train_set =
      LoadFashionMnist(options.data_dir, FashionMnistSplit::kTrain);
  if (!train_set.ok()) return train_set.status();
  absl::StatusOr<ImageSet> test_set = LoadFashionMnist(options.data_dir, FashionMnistSplit::kTest);
  if (!test_set.ok()) return test_set.status();
  const int64_t train_end = train_set->count - kValidationImages;
  const Split train = Head(ToTensors(*train_set, 0, train_end), options.train_images);
  const Split val = Head(ToTensors(*train_set, train_end, train_set->count), options.eval_images);
  const Split test = Head(ToTensors(*test_set, 0, test_set->count), options.eval_images);

  torch::manual_seed(options.seed);
  torch::set_num_threads(options.threads);
  std::mt19937_64 rng(options.seed);
  const ArchConfig arch;
  Supernet net(arch, *quantizer);
  const SubnetConfig largest = LargestSubnet(arch), smallest = SmallestSubnet(arch);
  const std::vector<SubnetConfig> space = AllSubnets(arch);

  const int64_t n_train = train.images.size(0);
  const int64_t steps_per_epoch = n_train / options.batch_size;
  int64_t total_steps = steps_per_epoch * options.epochs;
  if (options.max_steps > 0) total_steps = std::min<int64_t>(total_steps, options.max_steps);
  const int64_t warmup_steps = steps_per_epoch * options.warmup_epochs;
  const int64_t ramp_steps = std::max<int64_t>(1, steps_per_epoch / 2);
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(options.lr)
                                                     .momentum(0.9)
                                                     .nesterov(true)
                                                     .weight_decay(options.weight_decay));
  spdlog::info(
      "training {} SuperNet: {} images, {} epochs x {} steps (warm-up {} epochs), batch {}, seed "
      "{}",
      options.quantizer, n_train, options.epochs, steps_per_epoch, options.warmup_epochs,
      options.batch_size, options.seed);

  const std::string curve_path = options.out + ".curve.csv";
  std::ofstream curve(curve_path);
  curve << "epoch,step,train_loss,val_acc_largest,val_acc_smallest,elapsed_s\n";
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::uniform_int_distribution<size_t> pick(0, space.size() - 1);

  const std::string checkpoint_path = options.out + ".ckpt";
  if (!options.export_from.empty()) {
    try {
      torch::load(net, options.export_from);
    } catch (const c10::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          options.export_from, ": not a SuperNet checkpoint (", e.what_without_backtrace(), ")"));
    }
    spdlog::info("loaded {}; exporting without training", options.export_from);
    total_steps = 0;
  }
  int64_t step = 0;
  for (int epoch = 0; epoch < options.epochs && step < total_steps; ++epoch) {
    net->train();
    const torch::Tensor order = torch::randperm(n_train, torch::kInt64);
    double loss_sum = 0;
    int64_t loss_count = 0;
    for (int64_t b = 0; b < steps_per_epoch && step < total_steps; ++b, ++step) {
      // One-cycle schedule: linear warm-up over the first 3% of steps, then cosine decay to zero.
      const double warm = std::max<double>(1.0, 0.03 * total_steps);
      const double lr =
          step < warm
              ? options.lr * (step + 1) / warm
              : options.lr * 0.5 * (1 + std::cos(M_PI * (step - warm) / (total_steps - warm)));
      for (auto& group : optimizer.param_groups())
        static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);

      const torch::Tensor index = order.narrow(0, b * options.batch_size, options.batch_size);
      const torch::Tensor x = Augment(train.images.index_select(0, index), rng);
      const torch::Tensor y = train.labels.index_select(0, index);
      optimizer.zero_grad();
      const torch::Tensor logits = net->forward(x, largest);
      torch::Tensor loss = torch::cross_entropy_loss(logits, y, {}, at::Reduction::Mean, -100, 0.1);
      loss.backward();
      loss_sum += loss.item<double>();
      ++loss_count;
      if (step >= warmup_steps) {
        // Sandwich rule with in-place distillation; the weight ramps from 0 so the sub-nets join
        // gradually (delayed shrinking, DεS).
        const double weight =
            std::min(1.0, static_cast<double>(step - warmup_steps + 1) / ramp_steps);
        const torch::Tensor soft = torch::softmax(logits.detach(), 1);
        for (const SubnetConfig& s : {smallest, space[pick(rng)], space[pick(rng)]}) {
          const torch::Tensor log_p = torch::log_softmax(net->forward(x, s), 1);
          torch::Tensor kd = torch::kl_div(log_p, soft, at::Reduction::None).sum(1).mean() * weight;
          kd.backward();
        }
      }
      optimizer.step();
      if ((b + 1) % 50 == 0 || step + 1 == total_steps) {
        const double rate = (step + 1) / elapsed();
        std::fprintf(stderr,
                     "\repoch %d/%d  step %lld/%lld  loss %.4f  lr %.4f  %.1f steps/s  ETA %s   ",
                     epoch + 1, options.epochs, static_cast<long long>(b + 1),
                     static_cast<long long>(steps_per_epoch), loss_sum / loss_count, lr, rate,
                     Duration((total_steps - step - 1) / rate).c_str());
      }
    }
    std::fprintf(stderr, "\n");
    net->eval();
    const Split calib = Head(train, options.calib_images);
    const double val_largest =
        EvaluateAccuracy(net, largest, CalibrateBn(net, largest, calib.images, kEvalBatch),
                         val.images, val.labels, kEvalBatch);
    const double val_smallest =
        EvaluateAccuracy(net, smallest, CalibrateBn(net, smallest, calib.images, kEvalBatch),
                         val.images, val.labels, kEvalBatch);
    const double done = static_cast<double>(step) / total_steps;
    spdlog::info(
        "epoch {}/{}: train loss {:.4f}, val acc largest {:.2f}%, smallest {:.2f}%, elapsed {}, "
        "ETA {}",
        epoch + 1, options.epochs, loss_sum / std::max<int64_t>(1, loss_count), 100 * val_largest,
        100 * val_smallest, Duration(elapsed()), Duration(elapsed() / done * (1 - done)));
    curve << epoch + 1 << "," << step << "," << loss_sum / std::max<int64_t>(1, loss_count) << ","
          << val_largest << "," << val_smallest << "," << elapsed() << "\n";
    curve.flush();
    torch::save(net, checkpoint_path);
  }

  // SubnetNorm and evaluation of every exported sub-net.
  net->eval();
  const Split calib = Head(train, options.calib_images);
  std::vector<ExportSubnet> exported;
  const std::vector<SubnetConfig> export_set = ExportSet(arch, options.subnets);
  for (size_t i = 0; i < export_set.size(); ++i) {
    ExportSubnet e;
    e.meta.id = static_cast<int>(i);
    e.meta.config = export_set[i];
    e.stats = CalibrateBn(net, e.meta.config, calib.images, kEvalBatch);
    e.meta.val_accuracy =
        EvaluateAccuracy(net, e.meta.config, e.stats, val.images, val.labels, kEvalBatch);
    e.meta.test_accuracy =
        EvaluateAccuracy(net, e.meta.config, e.stats, test.images, test.labels, kEvalBatch);
    spdlog::info("sub-net {} {}: {:.1f} M MACs, val {:.2f}%, test {:.2f}%", i,
                 SubnetName(e.meta.config), CountMacs(arch, e.meta.config) / 1e6,
                 100 * e.meta.val_accuracy, 100 * e.meta.test_accuracy);
    exported.push_back(std::move(e));
  }
  BundleMetadata metadata;
  metadata.model_name = "fashion-mnist-ternary-supernet";
  metadata.labels = FashionMnistLabels();
  metadata.input_mean = kFashionMnistMean;
  metadata.input_std = kFashionMnistStd;
  metadata.recipe = {{"command", options.command_line},
                     {"seed", options.seed},
                     {"epochs", options.epochs},
                     {"warmup_epochs", options.warmup_epochs},
                     {"batch_size", options.batch_size},
                     {"lr", options.lr},
                     {"weight_decay", options.weight_decay},
                     {"steps", step},
                     {"train_images", n_train},
                     {"val_images", val.images.size(0)},
                     {"test_images", test.images.size(0)},
                     {"calib_images", calib.images.size(0)},
                     {"sandwich", "largest + smallest + 2 random, in-place distillation"},
                     {"wall_seconds", elapsed()}};
  if (absl::Status s = WriteBundle(net, exported, metadata, options.out); !s.ok()) return s;
  spdlog::info("wrote {} ({} sub-nets) and {} in {}", options.out, exported.size(), curve_path,
               Duration(elapsed()));
  return absl::OkStatus();
}

}  // namespace ternserve
