// SuperNet training, sub-net search and export, behind a LibTorch-free interface (ternserve-train's
// main sees only this).
//
// Recipe: the full model is warmed up alone, its channels are then sorted by importance (so width
// prefixes are good sub-nets), and every later step follows the sandwich rule (largest, smallest
// and 2 random sub-nets) with in-place distillation from the largest sub-net's soft targets, the
// sub-nets' loss weight ramping up from 0 (DεS). Afterwards every candidate sub-net gets its own BN
// statistics (SubnetNorm), the Pareto set by validation accuracy vs MACs is chosen, and the bundle
// is written with each sub-net's test accuracy.
#ifndef TERNSERVE_MODELS_TRAINER_H_
#define TERNSERVE_MODELS_TRAINER_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace ternserve {

struct TrainOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string out;  // bundle path; <out>.curve.csv/.png, .search.csv, .pareto.png, .ckpt* beside it
  std::string quantizer = "tga";  // tga | sca | twn | none
  int epochs = 8;
  int warmup_epochs = 2;     // full model alone before the sandwich rule starts
  double ramp_epochs = 1.0;  // epochs over which the sub-nets' loss weight ramps from 0 to 1
  int batch_size = 128;
  double lr = 0.1;  // peak SGD learning rate (one-cycle: warm-up, then cosine to 0)
  double weight_decay = 5e-4;
  double threshold_lr = 1e-4;  // TGA thresholds (Adam), on the weights' schedule
  // TGA's update order: "alternate" (He & Fan, Fig. 1: the thresholds step on their own forward
  // and backward pass over the batch's first threshold_batch images, then the weights on a pass
  // with the new thresholds) or "joint" (both step from one pass).
  std::string tga_update = "alternate";
  // "one" scale per channel (quantizer.h; what a bundle stores) or "per_sign" (the Gaussian
  // model's scale for each sign; measurement only: such a run trains and validates, and writes
  // its curve and checkpoint but no bundle).
  std::string tga_scales = "one";
  int threshold_batch = 32;
  std::string tga_scope = "channel_sigma";  // channel_sigma | channel | layer (quantizer.h)
  double sca_a = 0.8;                       // SCA sparsity controller a
  double sca_lambda = 1e-5;                 // SCA regularizer weight
  bool sort_channels = true;                // channel importance sorting at the end of the warm-up
  uint64_t seed = 1;
  int threads = 2;           // LibTorch intra-op threads
  int calib_images = 2000;   // BN calibration images per sub-net (training split)
  int eval_images = 0;       // 0 = the whole validation / test split; else only the first N
  int train_images = 0;      // 0 = the whole training split (55,000); else only the first N
  int max_steps = 0;         // 0 = no limit; else stop after this many steps
  int search_samples = 150;  // random sub-nets evaluated beyond the extremes and 12 uniform ones
  int max_subnets = 24;      // at most this many Pareto sub-nets in the bundle
  bool resume = false;       // continue from <out>.ckpt
  // A checkpoint (<out>.ckpt) of an earlier run, of any quantizer: start from its weights
  // (InitializeFrom) instead of a random initialization, e.g. a ternary fine-tune of a trained fp32
  // SuperNet. Its channels are already sorted, so such a run usually wants --warmup_epochs=0.
  std::string init_from;
  // A checkpoint of a trained SuperNet (usually the fp32 run --init_from names) whose largest
  // sub-net teaches every sub-net (knowledge distillation, Hinton et al. 2015; as Once-for-All
  // teaches its sub-nets): the largest learns (1 - kd_weight) * cross-entropy + kd_weight * T^2 *
  // KL(teacher_T || student_T), the sandwich's other sub-nets T^2 * KL alone. Empty: no teacher;
  // the sub-nets learn the largest's own soft targets (in-place distillation).
  std::string teacher;
  double kd_weight = 0.5;
  double kd_temperature = 1.0;
  double random_erasing = 0;  // probability per training image (train_data.h RandomErase)
  bool plots = true;          // PNG plots through /usr/bin/python3 + matplotlib
  bool tiny = false;  // a few steps, 2 sub-nets, small evaluation: a valid bundle in seconds
  std::string
      export_from;  // a checkpoint (<out>.ckpt of an earlier run): skip training, only export
  // A bundle: skip training, write it to `out` with its activation scales (re)calibrated.
  std::string calibrate;
  std::string command_line;  // recorded in the bundle's recipe
};

// Trains, searches, and exports the bundle to options.out.
absl::Status RunTraining(TrainOptions options);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_TRAINER_H_
