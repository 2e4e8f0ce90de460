#include "models/trainer.h"

#include <chrono>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "models/bundle.h"
#include "models/export.h"
#include "models/fashion_mnist.h"
#include "models/subnet_search.h"
#include "models/supernet.h"
#include "models/train_data.h"
#include "models/train_loop.h"
#include "spdlog/spdlog.h"

#ifndef TERNSERVE_PLOT_SCRIPT
#define TERNSERVE_PLOT_SCRIPT "models/plot_training.py"
#endif

namespace ternserve {
namespace {

constexpr int kEvalBatch = 500;

absl::Status Validate(const TrainOptions& o) {
  if (o.out.empty()) return absl::InvalidArgumentError("--out is required");
  if (o.epochs < 1 || o.warmup_epochs < 0 || o.warmup_epochs > o.epochs) {
    return absl::InvalidArgumentError("need --epochs >= 1 and 0 <= --warmup_epochs <= --epochs");
  }
  if (o.batch_size < 2 || o.lr <= 0 || o.threads < 1 || o.calib_images < 2 || o.ramp_epochs <= 0) {
    return absl::InvalidArgumentError(
        "need --batch_size >= 2, --lr > 0, --threads >= 1, --calib_images >= 2 and --ramp_epochs > "
        "0");
  }
  // a = 2 would put SCA's barrier at tanh^2 = 1, where no weight can pass it: all codes zero.
  if (!(o.sca_a > 0 && o.sca_a < 2) || o.sca_lambda < 0 || o.threshold_lr <= 0) {
    return absl::InvalidArgumentError(
        "need 0 < --sca_a < 2, --sca_lambda >= 0 and --threshold_lr > 0");
  }
  if (o.tga_scales != "one" && o.tga_scales != "per_sign") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --tga_scales \"", o.tga_scales, "\" (valid: one, per_sign)"));
  }
  if (o.tga_update != "alternate" && o.tga_update != "joint") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --tga_update \"", o.tga_update, "\" (valid: alternate, joint)"));
  }
  if (o.threshold_batch < 2 || !(o.kd_weight >= 0 && o.kd_weight <= 1) || !(o.kd_temperature > 0) ||
      !(o.random_erasing >= 0 && o.random_erasing <= 1)) {
    return absl::InvalidArgumentError(
        "need --threshold_batch >= 2, 0 <= --kd_weight <= 1, --kd_temperature > 0 and 0 <= "
        "--random_erasing <= 1");
  }
  if (o.max_subnets < 1 || o.search_samples < 0) {
    return absl::InvalidArgumentError("need --max_subnets >= 1 and --search_samples >= 0");
  }
  return absl::OkStatus();
}

// PNG plots are for people: a missing python3 or matplotlib costs a warning, not the run.
void Plot(const std::string& kind, const std::string& csv, const std::string& png) {
  const std::string command = absl::StrCat("/usr/bin/python3 ", TERNSERVE_PLOT_SCRIPT, " ", kind,
                                           " '", csv, "' '", png, "' 2>&1");
  if (std::system(command.c_str()) != 0)
    spdlog::warn("could not plot {} (needs python3-matplotlib)", png);
}

// The share of zero codes in the largest sub-net (every weight of the SuperNet) as exported.
double LargestSparsity(Supernet& net) {
  torch::NoGradGuard no_grad;
  double zeros = 0, total = 0;
  for (const LayerSpec& layer : net->layers()) {
    const torch::Tensor codes = net->Ternarize(layer.name).codes;
    zeros += codes.eq(0).sum().item<double>();
    total += static_cast<double>(codes.numel());
  }
  return total == 0 ? 0.0 : zeros / total;
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
  }
  if (absl::Status s = Validate(options); !s.ok()) return s;
  if (!options.calibrate.empty()) {
    // Checked before the training data is loaded, and reported as a bad input file: to
    // ternserve-train INVALID_ARGUMENT is a usage error (exit 2), and a bad bundle is not one.
    if (absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(options.calibrate);
        !bundle.ok()) {
      return absl::FailedPreconditionError(bundle.status().message());
    }
  }
  absl::StatusOr<QuantizerKind> quantizer = ParseQuantizer(options.quantizer);
  if (!quantizer.ok()) return quantizer.status();
  absl::StatusOr<TgaScope> tga_scope = ParseTgaScope(options.tga_scope);
  if (!tga_scope.ok()) return tga_scope.status();
  absl::StatusOr<TrainingData> data =
      LoadTrainingData(options.data_dir, options.train_images, options.eval_images);
  if (!data.ok()) return data.status();

  torch::manual_seed(options.seed);
  torch::set_num_threads(options.threads);
  if (!options.calibrate.empty()) {
    const Split calib = data->train.Head(options.calib_images);
    if (absl::Status s = RecalibrateBundle(options.calibrate, calib.images, options.out); !s.ok())
      return s;
    spdlog::info("wrote {}: {} with activation scales calibrated on {} training images",
                 options.out, options.calibrate, calib.size());
    return absl::OkStatus();
  }
  const ArchConfig arch;
  Supernet net(arch, *quantizer, *tga_scope, options.sca_a);
  const bool per_sign = options.tga_scales == "per_sign";
  if (per_sign && (*quantizer != QuantizerKind::kTga || !options.export_from.empty())) {
    return absl::InvalidArgumentError("--tga_scales=per_sign trains TGA only, and exports nothing");
  }
  net->set_tga_scales_per_sign(per_sign);
  TrainLoop loop(options, net, data->train.size());
  const std::string checkpoint = options.out + ".ckpt";
  const std::string curve_path = options.out + ".curve.csv";
  int first_epoch = 0;
  if (!options.init_from.empty() && !options.resume && options.export_from.empty()) {
    if (absl::Status s = InitializeFrom(options.init_from, net); !s.ok()) return s;
    spdlog::info("initialized from {}", options.init_from);
  }
  if (!options.teacher.empty() && options.export_from.empty()) {
    absl::StatusOr<Supernet> teacher = LoadCheckpointedSupernet(options.teacher, arch, "--teacher");
    if (!teacher.ok()) return teacher.status();
    loop.SetTeacher(*teacher);
    spdlog::info("distilling from {} ({} SuperNet's largest sub-net), weight {}, temperature {}",
                 options.teacher, QuantizerName((*teacher)->quantizer()), options.kd_weight,
                 options.kd_temperature);
  }
  if (options.resume) {
    absl::StatusOr<int> done = loop.Load(checkpoint);
    if (!done.ok()) return done.status();
    first_epoch = *done;
    spdlog::info("resuming from {} after epoch {} (step {})", checkpoint, first_epoch, loop.step());
  }
  if (!options.export_from.empty()) {
    // A checkpoint of another quantizer or TGA scope would export the wrong codes; one without its
    // record (copied alone) is trusted.
    if (absl::StatusOr<CheckpointProgress> progress =
            ReadCheckpointProgress(options.export_from, net);
        !progress.ok() && !absl::IsNotFound(progress.status())) {
      return progress.status();
    }
    try {
      torch::load(net, options.export_from);
    } catch (const c10::Error& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          options.export_from, ": not a SuperNet checkpoint (", e.what_without_backtrace(), ")"));
    }
    spdlog::info("loaded {}; exporting without training", options.export_from);
    first_epoch = options.epochs;
  }
  spdlog::info(
      "training {} SuperNet: {} images, {} epochs x {} steps (warm-up {}), batch {}, seed {}",
      options.quantizer, data->train.size(), options.epochs, loop.steps_per_epoch(),
      options.warmup_epochs, options.batch_size, options.seed);

  std::ofstream curve(curve_path, first_epoch > 0 ? std::ios::app : std::ios::trunc);
  if (first_epoch == 0)
    curve << "epoch,step,lr,train_loss,val_acc_largest,val_acc_smallest,elapsed_s\n";
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const SubnetConfig largest = LargestSubnet(arch), smallest = SmallestSubnet(arch);
  const Split calib = data->train.Head(options.calib_images);
  for (int epoch = first_epoch; epoch < options.epochs && loop.step() < loop.total_steps();
       ++epoch) {
    const double loss = loop.RunEpoch(epoch, data->train);
    if (options.sort_channels && epoch + 1 == options.warmup_epochs) {
      loop.SortChannels();
      spdlog::info("sorted channels by importance after the warm-up");
    }
    net->eval();
    const double val_largest =
        EvaluateAccuracy(net, largest, CalibrateBn(net, largest, calib.images, kEvalBatch),
                         data->val.images, data->val.labels, kEvalBatch);
    const double val_smallest =
        EvaluateAccuracy(net, smallest, CalibrateBn(net, smallest, calib.images, kEvalBatch),
                         data->val.images, data->val.labels, kEvalBatch);
    const double done =
        static_cast<double>(epoch + 1 - first_epoch) / (options.epochs - first_epoch);
    spdlog::info(
        "epoch {}/{}: loss {:.4f}, val acc largest {:.2f}%, smallest {:.2f}%, elapsed {:.0f}s, ETA "
        "{:.0f}s{}",
        epoch + 1, options.epochs, loss, 100 * val_largest, 100 * val_smallest, elapsed(),
        elapsed() / done * (1 - done),
        *quantizer == QuantizerKind::kNone
            ? ""
            : absl::StrFormat(", zeros %.1f%%", 100 * LargestSparsity(net)));
    curve << epoch + 1 << "," << loop.step() << "," << loop.last_lr() << "," << loss << ","
          << val_largest << "," << val_smallest << "," << elapsed() << "\n";
    curve.flush();
    if (absl::Status s = loop.Save(checkpoint, epoch + 1); !s.ok()) return s;
  }
  curve.close();
  if (options.plots) Plot("curve", curve_path, options.out + ".curve.png");
  if (per_sign) {
    spdlog::warn(
        "--tga_scales=per_sign: trained and validated ({}); no bundle, which stores one scale per "
        "channel",
        curve_path);
    return absl::OkStatus();
  }

  SearchOptions search;
  search.samples = options.search_samples;
  search.seed = options.seed;
  search.calib_images = options.calib_images;
  search.max_subnets = static_cast<size_t>(options.max_subnets);
  if (options.tiny) search.fixed = {largest, smallest};
  const SearchResult result = SearchSubnets(net, *data, search);
  const std::string search_path = options.out + ".search.csv";
  WriteSearchCsv(result, search_path);
  if (options.plots) Plot("pareto", search_path, options.out + ".pareto.png");

  std::vector<ExportSubnet> exported;
  for (size_t i : result.chosen) {
    ExportSubnet e;
    e.meta.id = static_cast<int>(exported.size());
    e.meta.config = result.evaluated[i].config;
    e.meta.val_accuracy = result.evaluated[i].val_accuracy;
    e.meta.test_accuracy = result.evaluated[i].test_accuracy;
    e.stats = result.stats[i];
    spdlog::info("sub-net {} {}: {:.2f} M MACs, val {:.2f}%, test {:.2f}%", e.meta.id,
                 SubnetName(e.meta.config), result.evaluated[i].macs / 1e6,
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
                     {"ramp_epochs", options.ramp_epochs},
                     {"batch_size", options.batch_size},
                     {"lr", options.lr},
                     {"weight_decay", options.weight_decay},
                     {"threshold_lr", options.threshold_lr},
                     {"tga_update", options.tga_update},
                     {"threshold_batch", options.threshold_batch},
                     {"teacher", options.teacher},
                     {"kd_weight", options.kd_weight},
                     {"kd_temperature", options.kd_temperature},
                     {"random_erasing", options.random_erasing},
                     {"tga_scope", options.tga_scope},
                     {"sca_a", options.sca_a},
                     {"sca_lambda", options.sca_lambda},
                     {"sort_channels", options.sort_channels},
                     {"init_from", options.init_from},
                     {"steps", loop.step()},
                     {"train_images", data->train.size()},
                     {"val_images", data->val.size()},
                     {"test_images", data->test.size()},
                     {"calib_images", calib.size()},
                     {"searched_subnets", result.evaluated.size()},
                     {"pareto_front", result.front.size()},
                     {"sandwich", options.teacher.empty()
                                      ? "largest + smallest + 2 random, in-place distillation, "
                                        "DεS ramp"
                                      : "largest + smallest + 2 random, distilled from the "
                                        "teacher, DεS ramp"},
                     {"wall_seconds_this_run", elapsed()}};
  if (absl::Status s = WriteBundle(net, exported, metadata, calib.images, options.out); !s.ok())
    return s;
  spdlog::info("wrote {} ({} sub-nets, {} bytes of metadata+weights) in {:.0f}s", options.out,
               exported.size(),
               std::ifstream(options.out, std::ios::ate | std::ios::binary).tellg(), elapsed());
  return absl::OkStatus();
}

}  // namespace ternserve
