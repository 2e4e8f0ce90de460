// SuperNet training and export, behind a LibTorch-free interface (ternserve-train's main only sees
// this).
//
// Recipe: the full model is warmed up alone; then every step follows the sandwich rule (largest,
// smallest and 2 random sub-nets) with in-place distillation from the largest sub-net's soft
// targets, the sub-nets' loss weight ramping up from 0 after the warm-up. After training, each
// exported sub-net gets its own BN statistics (SubnetNorm) from training images, and its validation
// and test accuracy are measured and stored.
#ifndef TERNSERVE_MODELS_TRAINER_H_
#define TERNSERVE_MODELS_TRAINER_H_

#include <string>

#include "absl/status/status.h"

namespace ternserve {

struct TrainOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string out;                // bundle path
  std::string quantizer = "twn";  // twn | none
  int epochs = 3;
  int warmup_epochs = 1;  // full model alone before the sandwich starts
  int batch_size = 128;
  double lr = 0.1;  // peak SGD learning rate (one-cycle: warm-up, then cosine to 0)
  double weight_decay = 5e-4;
  uint64_t seed = 1;
  int threads = 2;          // LibTorch intra-op threads
  int calib_images = 2000;  // BN calibration images per exported sub-net (training split)
  int eval_images = 0;      // 0 = the whole validation / test split; else only the first N
  int train_images = 0;     // 0 = the whole training split (55,000); else only the first N
  int max_steps = 0;        // 0 = no limit; else stop after this many steps
  bool tiny = false;        // a few steps, 2 sub-nets, small evaluation: a valid bundle in seconds
  std::string subnets =
      "spread";  // "spread" (6 sub-nets across the space) | "extremes" (largest, smallest)
  std::string
      export_from;  // a checkpoint (<out>.ckpt of an earlier run): skip training, only export
  std::string command_line;  // recorded in the bundle's recipe
};

// Trains, exports the bundle to options.out and writes a training curve (<out>.curve.csv) and the
// trained SuperNet's weights (<out>.ckpt, every epoch) next to it.
absl::Status RunTraining(TrainOptions options);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_TRAINER_H_
