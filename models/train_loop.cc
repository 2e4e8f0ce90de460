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
  alternate_ = net_->quantizer() == QuantizerKind::kTga && options.tga_update == "alternate";
  BuildOptimizers();
}

void TrainLoop::SetTeacher(Supernet teacher) {
  teacher_ = std::move(teacher);
  teacher_->eval();
  for (torch::Tensor& p : teacher_->parameters()) p.set_requires_grad(false);
}

torch::Tensor TrainLoop::LargestLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                     const torch::Tensor& teacher_soft) const {
  const torch::Tensor ce =
      torch::cross_entropy_loss(logits, labels, {}, at::Reduction::Mean, -100, 0.1);
  if (!teacher_soft.defined()) return ce;
  const double t = options_.kd_temperature;
  const torch::Tensor kd =
      torch::kl_div(torch::log_softmax(logits / t, 1), teacher_soft, at::Reduction::None)
          .sum(1)
          .mean() *
      (t * t);
  return (1 - options_.kd_weight) * ce + options_.kd_weight * kd;
}

void TrainLoop::StepThresholds(const torch::Tensor& x, const torch::Tensor& y,
                               const torch::Tensor& teacher_soft) {
  const int64_t n = std::min<int64_t>(options_.threshold_batch, x.size(0));
  const torch::Tensor logits = net_->forward(x.narrow(0, 0, n), LargestSubnet(net_->arch()));
  const torch::Tensor loss =
      LargestLoss(logits, y.narrow(0, 0, n),
                  teacher_soft.defined() ? teacher_soft.narrow(0, 0, n) : teacher_soft);
  std::vector<torch::Tensor> thresholds = net_->thresholds();
  // Only the thresholds' gradient: the weights' of this pass are not used.
  const std::vector<torch::Tensor> grads = torch::autograd::grad({loss}, thresholds);
  for (size_t i = 0; i < thresholds.size(); ++i) thresholds[i].mutable_grad() = grads[i];
  thresholds_optimizer_->step();
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
    if (thresholds_optimizer_) {
      // The thresholds follow the weights' one-cycle schedule, scaled to their own peak.
      for (auto& group : thresholds_optimizer_->param_groups()) {
        static_cast<torch::optim::AdamOptions&>(group.options())
            .lr(options_.threshold_lr * last_lr_ / options_.lr);
      }
    }
    const torch::Tensor index = order.narrow(0, b * options_.batch_size, options_.batch_size);
    const torch::Tensor x = RandomErase(Augment(train.images.index_select(0, index), rng),
                                        options_.random_erasing, rng);
    const torch::Tensor y = train.labels.index_select(0, index);
    const double t = options_.kd_temperature;
    torch::Tensor teacher_soft;  // the teacher's probabilities at temperature t
    if (teacher_) {
      torch::NoGradGuard no_grad;
      teacher_soft = torch::softmax(teacher_->forward(x, largest) / t, 1);
    }
    if (alternate_) {
      thresholds_optimizer_->zero_grad();
      StepThresholds(x, y, teacher_soft);
    }
    weights_optimizer_->zero_grad();
    if (thresholds_optimizer_) thresholds_optimizer_->zero_grad();

    const torch::Tensor logits = net_->forward(x, largest);
    torch::Tensor loss = LargestLoss(logits, y, teacher_soft);
    loss_sum += loss.item<double>();
    if (net_->quantizer() == QuantizerKind::kSca)
      loss = loss + options_.sca_lambda * net_->Regularizer(options_.sca_a);
    loss.backward();
    if (step_ >= warmup_steps_) {
      // Sandwich rule: the smallest and 2 random sub-nets learn the teacher's soft targets, or
      // without one the largest's (in-place distillation); their weight ramps up from 0 after the
      // warm-up (DεS).
      const double weight =
          std::min(1.0, static_cast<double>(step_ - warmup_steps_ + 1) / ramp_steps_);
      const torch::Tensor soft = teacher_ ? teacher_soft : torch::softmax(logits.detach() / t, 1);
      for (const SubnetConfig& s : {smallest, space_[pick(rng)], space_[pick(rng)]}) {
        const torch::Tensor log_p = torch::log_softmax(net_->forward(x, s) / t, 1);
        (torch::kl_div(log_p, soft, at::Reduction::None).sum(1).mean() * (t * t * weight))
            .backward();
      }
    }
    // Joint update: the thresholds step from the same pass as the weights, before them.
    if (thresholds_optimizer_ && !alternate_) thresholds_optimizer_->step();
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

absl::StatusOr<Supernet> LoadCheckpointedSupernet(const std::string& prefix, const ArchConfig& arch,
                                                  const std::string& flag) {
  std::ifstream record_file(prefix + ".json");
  if (!record_file) {
    return absl::NotFoundError(absl::StrCat(flag, ": no checkpoint: ", prefix, ".json is missing"));
  }
  const nlohmann::json record = nlohmann::json::parse(record_file, nullptr, false);
  if (record.is_discarded() || !record.is_object() || !record.contains("quantizer")) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", prefix, ".json is not a checkpoint record"));
  }
  absl::StatusOr<QuantizerKind> kind = ParseQuantizer(record.value("quantizer", ""));
  absl::StatusOr<TgaScope> scope = ParseTgaScope(record.value("tga_scope", "channel"));
  if (!kind.ok() || !scope.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", prefix, ".json names an unknown quantizer or TGA scope"));
  }
  Supernet net(arch, *kind, *scope, record.value("sca_a", kDefaultScaA));
  try {
    torch::load(net, prefix);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": ", prefix, ": not a SuperNet checkpoint (", e.what_without_backtrace(), ")"));
  }
  return net;
}

torch::Tensor ScaThetaFrom(const torch::Tensor& w, bool per_channel) {
  const torch::Tensor rows = w.reshape({w.size(0), -1});
  const torch::Tensor sigma = per_channel ? rows.std(1, /*unbiased=*/false, /*keepdim=*/true)
                                          : rows.std(/*unbiased=*/false).reshape({1, 1});
  const torch::Tensor u = (rows / (kScaInitSigmas * sigma.clamp_min(1e-8))).clamp(-0.995, 0.995);
  return torch::atanh(u).reshape(w.sizes());
}

absl::Status InitializeFrom(const std::string& prefix, Supernet& net) {
  absl::StatusOr<Supernet> loaded = LoadCheckpointedSupernet(prefix, net->arch(), "--init_from");
  if (!loaded.ok()) return loaded.status();
  Supernet& source = *loaded;
  torch::NoGradGuard no_grad;
  const bool to_sca = net->quantizer() == QuantizerKind::kSca;
  double fc_scale = 1;  // what an SCA target divides the classifier by
  for (const LayerSpec& layer : net->layers()) {
    // An SCA source holds Theta; its weight is tanh(Theta).
    const torch::Tensor& theta_or_w = source->weight(layer.name);
    const torch::Tensor w =
        source->quantizer() == QuantizerKind::kSca ? torch::tanh(theta_or_w) : theta_or_w;
    // BatchNorm follows every conv, so a scale per output channel changes nothing; the
    // classifier has none, so it takes one scale (the logits' order stays) and its bias follows.
    const bool per_channel = !layer.bn_name.empty();
    if (to_sca && !per_channel) {
      fc_scale = kScaInitSigmas * std::max(1e-8, w.std(/*unbiased=*/false).item<double>());
    }
    net->weight(layer.name).copy_(to_sca ? ScaThetaFrom(w, per_channel) : w);
    if (!layer.bn_name.empty()) {
      net->bn_gamma(layer.bn_name).copy_(source->bn_gamma(layer.bn_name));
      net->bn_beta(layer.bn_name).copy_(source->bn_beta(layer.bn_name));
    }
  }
  net->fc_bias().copy_(source->fc_bias() / fc_scale);
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
