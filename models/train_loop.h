// The SuperNet training loop: one-cycle SGD over the weights, the sandwich rule with in-place
// distillation (or distillation from a trained teacher) after a full-model warm-up (sub-net loss
// weight ramping up from 0: delayed shrinking, DεS, arXiv 2407.06167), TGA's thresholds on their
// own optimizer (by default stepped on a pass of their own before the weights', as He & Fan
// order it), SCA's regularizer, and checkpoints that a killed run resumes from.
//
// Not thread-safe; owns its optimizers, shares the Supernet with the caller.
#ifndef TERNSERVE_MODELS_TRAIN_LOOP_H_
#define TERNSERVE_MODELS_TRAIN_LOOP_H_

#include <memory>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/supernet.h"
#include "models/train_data.h"
#include "models/trainer.h"

namespace ternserve {

// The progress record <prefix>.json that TrainLoop::Save writes beside a checkpoint.
struct CheckpointProgress {
  int epochs_done = 0;
  int64_t step = 0;
};

// Reads <prefix>.json and checks that the checkpoint is of `net`'s quantizer and TGA scope:
// NotFound if the record is missing, InvalidArgument if it is unreadable or of another kind of run.
absl::StatusOr<CheckpointProgress> ReadCheckpointProgress(const std::string& prefix,
                                                          const Supernet& net);

// Initializes `net`'s latent weights, BatchNorm affine parameters and classifier bias from the
// checkpoint `prefix` of another run, of any quantizer (its record <prefix>.json names which; none:
// full precision), so that a ternary SuperNet is fine-tuned from a trained one, as He & Fan and
// Deng & Zhang start from a trained full-precision network. TGA's thresholds start again from the
// copied weights (ResetThresholds). An SCA `net` gets Theta = ScaThetaFrom(W). NotFound without
// the checkpoint; InvalidArgument for a file that is not a SuperNet checkpoint.
absl::Status InitializeFrom(const std::string& prefix, Supernet& net);

// SCA's latent Theta for a trained weight W: tanh(Theta) = W / (kScaInitSigmas * sigma), sigma
// each output channel's standard deviation (`per_channel`; else the layer's), clamped to |tanh| <=
// 0.995. So the regularizer's barrier tanh^2 = a / 2 first falls at |W| = 2 sqrt(a / 2) sigma: a
// = 0.1, 0.2, 0.4, 0.8 start a Gaussian layer at 34%, 47%, 63% and 79% zeros, and `a` keeps
// controlling the sparsity it starts from.
inline constexpr double kScaInitSigmas = 2.0;
torch::Tensor ScaThetaFrom(const torch::Tensor& w, bool per_channel);

// The SuperNet of checkpoint `prefix`, built with the quantizer, TGA scope and SCA a its record
// <prefix>.json names, for an `arch` SuperNet: NotFound without the record, InvalidArgument for a
// record or file that is not a SuperNet checkpoint. `flag` names the flag in the messages.
absl::StatusOr<Supernet> LoadCheckpointedSupernet(const std::string& prefix, const ArchConfig& arch,
                                                  const std::string& flag);

class TrainLoop {
 public:
  TrainLoop(const TrainOptions& options, Supernet net, int64_t train_images);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t total_steps() const { return total_steps_; }
  int64_t step() const { return step_; }
  double last_lr() const { return last_lr_; }

  // One epoch (or what is left of max_steps); returns the mean training loss of the largest
  // sub-net (with a teacher, its mix of cross-entropy and distillation; never SCA's regularizer).
  // `epoch` seeds the data order and augmentation, so a resumed run sees the same batches.
  double RunEpoch(int epoch, const Split& train);

  // Knowledge distillation from `teacher`'s largest sub-net (TrainOptions::teacher), which must
  // have the same architecture; it is only run forward.
  void SetTeacher(Supernet teacher);

  // Channel importance sorting (models/channel_sort.h); resets optimizer momentum, which it
  // invalidates.
  void SortChannels();

  // <prefix> (model), <prefix>.opt (optimizers), <prefix>.json (progress).
  absl::Status Save(const std::string& prefix, int epochs_done) const;
  // Restores a Save(); returns the number of epochs it had completed.
  absl::StatusOr<int> Load(const std::string& prefix);

 private:
  double LearningRate() const;
  void BuildOptimizers();
  // The largest sub-net's loss: label-smoothed cross-entropy, mixed with the teacher's soft
  // targets `teacher_soft` (at kd_temperature) when they are defined.
  torch::Tensor LargestLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                            const torch::Tensor& teacher_soft) const;
  // TGA's first half-step (He & Fan, Fig. 1, steps 2 and 3): the loss gradient in the thresholds
  // alone, on a forward and backward pass of its own, and the thresholds' step.
  void StepThresholds(const torch::Tensor& x, const torch::Tensor& y,
                      const torch::Tensor& teacher_soft);

  const TrainOptions options_;
  Supernet net_;
  const int64_t steps_per_epoch_;
  const int64_t total_steps_;
  const int64_t warmup_steps_;
  const int64_t ramp_steps_;
  const std::vector<SubnetConfig> space_;
  std::unique_ptr<torch::optim::SGD> weights_optimizer_;
  std::unique_ptr<torch::optim::Adam> thresholds_optimizer_;  // TGA only
  bool alternate_ = false;  // TGA's alternating update (TrainOptions::tga_update)
  Supernet teacher_{nullptr};
  int64_t step_ = 0;
  double last_lr_ = 0;
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_TRAIN_LOOP_H_
