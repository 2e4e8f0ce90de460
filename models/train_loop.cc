#include "models/train_loop.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "models/channel_sort.h"
#include "nlohmann/json.hpp"

namespace ternserve {
namespace {

std::string Duration(double seconds) {
  const int s = static_cast<int>(seconds);
  return s >= 3600 ? absl::StrFormat("%dh%02dm", s / 3600, s / 60 % 60)
                   : absl::StrFormat("%dm%02ds", s / 60, s % 60);
}

}  // namespace

TrainLoop::TrainLoop(const TrainOptions& options, Supernet net, int64_t train_images)
    : options_(options),
      net_(std::move(net)),
      steps_per_epoch_(train_images / options.batch_size),
      total_steps_(options.max_steps > 0
                       ? std::min<int64_t>(options.max_steps, steps_per_epoch_ * options.epochs)
                       : steps_per_epoch_ * options.epochs),
      warmup_steps_(steps_per_epoch_ * options.warmup_epochs),
      ramp_steps_(
          std::max<int64_t>(1, static_cast<int64_t>(steps_per_epoch_ * options.ramp_epochs))),
      space_(AllSubnets(net_->arch())) {
  BuildOptimizers();
}

void TrainLoop::BuildOptimizers() {
  const std::vector<torch::Tensor> thresholds = net_->thresholds();
  std::vector<torch::Tensor> decayed, plain;
  for (const auto& item : net_->named_parameters()) {
    if (item.key().size() > 6 && item.key().substr(item.key().size() - 6) == "_delta") continue;
    // SCA's regularizer shapes Theta; weight decay would fight it.
    const bool is_weight =
        item.key().size() > 7 && item.key().substr(item.key().size() - 7) == "_weight";
    (is_weight && net_->quantizer() != QuantizerKind::kSca ? decayed : plain)
        .push_back(item.value());
  }
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decayed, std::make_unique<torch::optim::SGDOptions>(
                                   torch::optim::SGDOptions(options_.lr)
                                       .momentum(0.9)
                                       .nesterov(true)
                                       .weight_decay(options_.weight_decay)));
  groups.emplace_back(plain,
                      std::make_unique<torch::optim::SGDOptions>(
                          torch::optim::SGDOptions(options_.lr).momentum(0.9).nesterov(true)));
  weights_optimizer_ =
      std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(options_.lr));
  if (!thresholds.empty()) {
    thresholds_optimizer_ = std::make_unique<torch::optim::Adam>(
        thresholds, torch::optim::AdamOptions(options_.threshold_lr));
  }
}

double TrainLoop::LearningRate() const {
  // One-cycle: linear warm-up over the first 3% of steps, then cosine decay to zero.
  const double warm = std::max<double>(1.0, 0.03 * total_steps_);
  if (step_ < warm) return options_.lr * (step_ + 1) / warm;
  return options_.lr * 0.5 *
         (1 + std::cos(M_PI * (step_ - warm) / std::max<double>(1.0, total_steps_ - warm)));
}

double TrainLoop::RunEpoch(int epoch, const Split& train) {
  net_->train();
  torch::manual_seed(options_.seed * 1000 + epoch);
  std::mt19937_64 rng(options_.seed * 1000 + epoch);
  std::uniform_int_distribution<size_t> pick(0, space_.size() - 1);
  const SubnetConfig largest = LargestSubnet(net_->arch()), smallest = SmallestSubnet(net_->arch());
  const torch::Tensor order = torch::randperm(train.size(), torch::kInt64);
  const auto start = std::chrono::steady_clock::now();
  double loss_sum = 0;
  int64_t batches = 0;
  for (int64_t b = 0; b < steps_per_epoch_ && step_ < total_steps_; ++b, ++step_, ++batches) {
    last_lr_ = LearningRate();
    for (auto& group : weights_optimizer_->param_groups()) {
      static_cast<torch::optim::SGDOptions&>(group.options()).lr(last_lr_);
    }
    const torch::Tensor index = order.narrow(0, b * options_.batch_size, options_.batch_size);
    const torch::Tensor x = Augment(train.images.index_select(0, index), rng);
    const torch::Tensor y = train.labels.index_select(0, index);
    weights_optimizer_->zero_grad();
    if (thresholds_optimizer_) thresholds_optimizer_->zero_grad();

    const torch::Tensor logits = net_->forward(x, largest);
    const torch::Tensor ce =
        torch::cross_entropy_loss(logits, y, {}, at::Reduction::Mean, -100, 0.1);
    torch::Tensor loss = ce;
    if (net_->quantizer() == QuantizerKind::kSca)
      loss = loss + options_.sca_lambda * net_->Regularizer(options_.sca_a);
    loss.backward();
    loss_sum += ce.item<double>();
    if (step_ >= warmup_steps_) {
      // Sandwich rule: the smallest and 2 random sub-nets learn the largest's soft targets
      // (in-place distillation); their weight ramps up from 0 after the warm-up (DεS).
      const double weight =
          std::min(1.0, static_cast<double>(step_ - warmup_steps_ + 1) / ramp_steps_);
      const torch::Tensor soft = torch::softmax(logits.detach(), 1);
      for (const SubnetConfig& s : {smallest, space_[pick(rng)], space_[pick(rng)]}) {
        const torch::Tensor log_p = torch::log_softmax(net_->forward(x, s), 1);
        (torch::kl_div(log_p, soft, at::Reduction::None).sum(1).mean() * weight).backward();
      }
    }
    // He & Fan update the thresholds first, then the weights.
    if (thresholds_optimizer_) thresholds_optimizer_->step();
    weights_optimizer_->step();
    if ((b + 1) % 25 == 0 || step_ + 1 == total_steps_) {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = (b + 1) / seconds;
      std::fprintf(
          stderr,
          "\repoch %d/%d  step %lld/%lld  loss %.4f  lr %.4f  %.2f steps/s  epoch ETA %s   ",
          epoch + 1, options_.epochs, static_cast<long long>(b + 1),
          static_cast<long long>(steps_per_epoch_), loss_sum / batches, last_lr_, rate,
          Duration((steps_per_epoch_ - b - 1) / rate).c_str());
    }
  }
  std::fprintf(stderr, "\n");
  return batches == 0 ? 0.0 : loss_sum / batches;
}

void TrainLoop::SortChannels() {
  SortChannelsByImportance(net_);
  BuildOptimizers();
}

absl::Status TrainLoop::Save(const std::string& prefix, int epochs_done) const {
  // Every file is written beside its place (<file>.saving) and then renamed over it, the progress
  // record last: a run stopped while saving leaves the previous checkpoint whole (rename replaces a
  // file atomically), or at worst the new model and optimizer state under the previous record,
  // which a resume reads as the earlier epoch and trains again. Never a torn file.
  constexpr char kSaving[] = ".saving";
  std::vector<std::string> files = {prefix, prefix + ".opt"};
  if (thresholds_optimizer_) files.push_back(prefix + ".thr");
  files.push_back(prefix + ".json");
  try {
    torch::save(net_, prefix + kSaving);
    torch::serialize::OutputArchive archive;
    weights_optimizer_->save(archive);
    archive.save_to(prefix + ".opt" + kSaving);
    if (thresholds_optimizer_) {
      torch::serialize::OutputArchive thresholds;
      thresholds_optimizer_->save(thresholds);
      thresholds.save_to(prefix + ".thr" + kSaving);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("saving checkpoint ", prefix, ": ", e.what_without_backtrace()));
  }
  std::ofstream progress(prefix + ".json" + kSaving);
  progress << nlohmann::json{{"epochs_done", epochs_done},
                             {"step", step_},
                             {"quantizer", QuantizerName(net_->quantizer())},
                             {"tga_scope", TgaScopeName(net_->tga_scope())},
                             {"sca_a", net_->sca_a()}}
                  .dump();
  progress.close();
  if (!progress) return absl::InternalError(absl::StrCat("writing ", prefix, ".json", kSaving));
  for (const std::string& file : files) {
    if (std::rename((file + kSaving).c_str(), file.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("saving checkpoint: cannot rename ", file, kSaving,
                                              " to ", file, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<CheckpointProgress> ReadCheckpointProgress(const std::string& prefix,
                                                          const Supernet& net) {
  std::ifstream progress_file(prefix + ".json");
  if (!progress_file)
    return absl::NotFoundError(absl::StrCat("no checkpoint: ", prefix, ".json is missing"));
  const nlohmann::json progress = nlohmann::json::parse(progress_file, nullptr, false);
  if (progress.is_discarded() || !progress.contains("epochs_done") || !progress.contains("step") ||
      progress.value("quantizer", "") != QuantizerName(net->quantizer())) {
    return absl::InvalidArgumentError(absl::StrCat(prefix, ".json: not a checkpoint of a ",
                                                   QuantizerName(net->quantizer()), " run"));
  }
  // Checkpoints older than --tga_scope have none: they were all per channel.
  if (net->quantizer() == QuantizerKind::kTga &&
      progress.value("tga_scope", "channel") != TgaScopeName(net->tga_scope())) {
    return absl::InvalidArgumentError(
        absl::StrCat(prefix, ".json: a --tga_scope=", progress.value("tga_scope", "channel"),
                     " checkpoint, not ", TgaScopeName(net->tga_scope())));
  }
  // SCA's a sets where its codes are cut: a checkpoint of another a would export other codes.
  // Checkpoints older than the cut at a's barrier record none.
  if (net->quantizer() == QuantizerKind::kSca && progress.contains("sca_a") &&
      (!progress["sca_a"].is_number() || progress["sca_a"].get<double>() != net->sca_a())) {
    return absl::InvalidArgumentError(absl::StrCat(
        prefix, ".json: an --sca_a=", progress["sca_a"].dump(), " checkpoint, not ", net->sca_a()));
  }
  return CheckpointProgress{progress["epochs_done"].get<int>(), progress["step"].get<int64_t>()};
}

absl::Status InitializeFrom(const std::string& prefix, Supernet& net) {
  if (net->quantizer() == QuantizerKind::kSca) {
    return absl::InvalidArgumentError(
        "--init_from: an SCA SuperNet cannot start from another run's weights yet (its latent "
        "Theta = atanh(W) has no mapping from them)");
  }
  std::ifstream record_file(prefix + ".json");
  if (!record_file) {
    return absl::NotFoundError(
        absl::StrCat("--init_from: no checkpoint: ", prefix, ".json is missing"));
  }
  const nlohmann::json record = nlohmann::json::parse(record_file, nullptr, false);
  if (record.is_discarded() || !record.contains("quantizer")) {
    return absl::InvalidArgumentError(
        absl::StrCat("--init_from: ", prefix, ".json is not a checkpoint record"));
  }
  absl::StatusOr<QuantizerKind> kind = ParseQuantizer(record.value("quantizer", ""));
  absl::StatusOr<TgaScope> scope = ParseTgaScope(record.value("tga_scope", "channel"));
  if (!kind.ok() || !scope.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--init_from: ", prefix, ".json names an unknown quantizer or TGA scope"));
  }
  Supernet source(net->arch(), *kind, *scope, record.value("sca_a", kDefaultScaA));
  try {
    torch::load(source, prefix);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--init_from: ", prefix, ": not a SuperNet checkpoint (", e.what_without_backtrace(), ")"));
  }
  torch::NoGradGuard no_grad;
  for (const LayerSpec& layer : net->layers()) {
    // An SCA source holds Theta; its weight is tanh(Theta).
    const torch::Tensor& w = source->weight(layer.name);
    net->weight(layer.name).copy_(*kind == QuantizerKind::kSca ? torch::tanh(w) : w);
    if (!layer.bn_name.empty()) {
      net->bn_gamma(layer.bn_name).copy_(source->bn_gamma(layer.bn_name));
      net->bn_beta(layer.bn_name).copy_(source->bn_beta(layer.bn_name));
    }
  }
  net->fc_bias().copy_(source->fc_bias());
  net->ResetThresholds();
  return absl::OkStatus();
}

absl::StatusOr<int> TrainLoop::Load(const std::string& prefix) {
  absl::StatusOr<CheckpointProgress> progress = ReadCheckpointProgress(prefix, net_);
  if (!progress.ok()) return progress.status();
  try {
    torch::load(net_, prefix);
    torch::serialize::InputArchive archive;
    archive.load_from(prefix + ".opt");
    weights_optimizer_->load(archive);
    if (thresholds_optimizer_) {
      torch::serialize::InputArchive thresholds;
      thresholds.load_from(prefix + ".thr");
      thresholds_optimizer_->load(thresholds);
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("loading checkpoint ", prefix, ": ", e.what_without_backtrace()));
  }
  step_ = progress->step;
  return progress->epochs_done;
}

}  // namespace ternserve
