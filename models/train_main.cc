// ternserve-train: trains the weight-shared ternary SuperNet on Fashion-MNIST and writes a model
// bundle.
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_join.h"
#include "models/trainer.h"
#include "util/flag_check.h"

ABSL_FLAG(std::string, out, "",
          "Bundle to write (required), e.g. models/ternserve.tsn. Beside it: <out>.curve.csv/.png "
          "(training "
          "curve), <out>.search.csv and <out>.pareto.png (sub-net search), <out>.ckpt* "
          "(checkpoint, every epoch).");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Folder with the Fashion-MNIST IDX files (Debian package dataset-fashion-mnist).");
ABSL_FLAG(std::string, quantizer, "tga",
          "Weight quantizer: tga (trainable thresholds, He & Fan 2019), sca (sparsity control, "
          "Deng & Zhang "
          "2020), twn (ternary weight networks), none (fp32 reference).");
ABSL_FLAG(int, epochs, 8, "Training epochs over the 55,000 training images.");
ABSL_FLAG(int, warmup_epochs, 2,
          "Epochs that train the full model alone before the sandwich rule starts.");
ABSL_FLAG(double, ramp_epochs, 1.0,
          "Epochs over which the sub-nets' loss weight ramps from 0 to 1 (DεS).");
ABSL_FLAG(int, batch_size, 128, "Training batch size.");
ABSL_FLAG(double, lr, 0.1,
          "Peak learning rate (SGD, Nesterov momentum 0.9, one-cycle cosine schedule).");
ABSL_FLAG(double, weight_decay, 5e-4, "L2 weight decay on conv/linear weights (not for sca).");
ABSL_FLAG(double, threshold_lr, 1e-4,
          "Peak learning rate of TGA's thresholds (Adam, on the weights' one-cycle schedule).");
ABSL_FLAG(std::string, tga_update, "alternate",
          "TGA's update order: alternate (He & Fan: the thresholds step on a forward and "
          "backward pass of their own over the batch's first --threshold_batch images, then the "
          "weights on a pass with the new thresholds) or joint (both from one pass).");
ABSL_FLAG(std::string, tga_scales, "one",
          "TGA's scales: one per output channel (what a bundle stores) or per_sign (the "
          "Gaussian model's scale for the +1 and for the -1 codes; measurement only: trains and "
          "validates, writes the curve and checkpoint, no bundle).");
ABSL_FLAG(int, threshold_batch, 32,
          "Images of each batch in the thresholds' own pass (--tga_update=alternate).");
ABSL_FLAG(std::string, teacher, "",
          "Checkpoint of a trained SuperNet (its <out>.ckpt, e.g. the fp32 run --init_from "
          "names) whose largest sub-net teaches every sub-net (knowledge distillation). Empty: "
          "the sub-nets learn the largest's own soft targets.");
ABSL_FLAG(double, kd_weight, 0.5,
          "With --teacher: the largest sub-net's loss is (1 - w) * cross-entropy + w * "
          "distillation.");
ABSL_FLAG(double, kd_temperature, 1.0, "With --teacher: the distillation temperature.");
ABSL_FLAG(double, random_erasing, 0,
          "Probability per training image of random erasing (a rectangle of 2-33% of the "
          "image set to 0).");
ABSL_FLAG(
    std::string, tga_scope, "channel_sigma",
    "What TGA's mean, standard deviation and scale are taken over: channel_sigma (each "
    "output channel, the layer's threshold in units of each channel's standard deviation; "
    "the shipped model), channel (each channel, one absolute threshold per layer) or layer "
    "(the whole layer, as in He & Fan's paper); channel_sigma_zero: as channel_sigma, the codes "
    "cut around 0 instead of the channel's mean.");
ABSL_FLAG(double, sca_a, 0.8,
          "SCA's sparsity controller a in (0, 2): larger a, sparser weights (codes are cut at "
          "the regularizer's barrier, tanh^2 theta = a / 2).");
ABSL_FLAG(double, sca_lambda, 1e-5, "Weight of SCA's discretization regularizer.");
ABSL_FLAG(bool, sort_channels, true, "Sort channels by importance at the end of the warm-up.");
ABSL_FLAG(uint64_t, seed, 1,
          "Random seed (initialization, data order, augmentation, sub-net sampling, search).");
ABSL_FLAG(int, threads, 2, "LibTorch intra-op threads.");
ABSL_FLAG(int, calib_images, 2000,
          "Training images used to recalibrate each sub-net's BatchNorm (SubnetNorm).");
ABSL_FLAG(int, eval_images, 0, "Evaluate on only the first N validation/test images (0 = all).");
ABSL_FLAG(int, train_images, 0, "Train on only the first N training images (0 = all 55,000).");
ABSL_FLAG(int, max_steps, 0, "Stop after N optimizer steps (0 = run all epochs).");
ABSL_FLAG(int, search_samples, 150,
          "Random sub-nets evaluated in the Pareto search, beyond the largest, the smallest and "
          "the 12 uniform ones.");
ABSL_FLAG(int, max_subnets, 24, "At most this many Pareto sub-nets go into the bundle.");
ABSL_FLAG(bool, resume, false, "Continue a killed run from its last checkpoint (<out>.ckpt).");
ABSL_FLAG(std::string, init_from, "",
          "Start from the weights of an earlier run's checkpoint (its <out>.ckpt), of any "
          "quantizer, instead of a random initialization: e.g. a TGA fine-tune of a trained fp32 "
          "SuperNet (--quantizer=none). Its channels are already sorted: pair it with "
          "--warmup_epochs=0. Ignored with --resume (the run's own checkpoint wins).");
ABSL_FLAG(bool, plots, true, "Write PNG plots (needs /usr/bin/python3 with matplotlib).");
ABSL_FLAG(std::string, export_from, "",
          "Skip training: load this checkpoint (the <out>.ckpt an earlier run wrote), search and "
          "export.");
ABSL_FLAG(std::string, calibrate, "",
          "Skip training: copy this bundle to --out with every sub-net's u8 activation scales "
          "(what the ternary engine needs) calibrated on --calib_images training images.");
ABSL_FLAG(bool, tiny, false,
          "Smoke-test run: a few steps on 1,024 images, the largest and smallest sub-nets, "
          "256-image evaluation. "
          "Writes a valid (inaccurate) bundle in seconds; used by the tests.");

int main(int argc, char** argv) {
  constexpr char kOwnFile[] = "models/train_main.cc";
  ternserve::SetUsage(
      kOwnFile,
      "Trains the weight-shared ternary SuperNet on Fashion-MNIST and writes a Ternserve model "
      "bundle.\n\nUsage: ternserve-train --out=models/ternserve.tsn "
      "[--quantizer=tga|sca|twn|none --epochs=N --seed=S ...]");
  if (ternserve::PrintHelpIfAsked(argc, argv, kOwnFile)) return 0;
  if (!ternserve::PrevalidateFlags(argc, argv, "ternserve-train", kOwnFile)) {
    std::fprintf(stderr, "Try --help.\n");
    return 2;
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() > 1) {
    std::fprintf(stderr, "ternserve-train: unexpected argument \"%s\" (flags only; see --help)\n",
                 args[1]);
    return 2;
  }
  ternserve::TrainOptions options;
  options.out = absl::GetFlag(FLAGS_out);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.quantizer = absl::GetFlag(FLAGS_quantizer);
  options.epochs = absl::GetFlag(FLAGS_epochs);
  options.warmup_epochs = absl::GetFlag(FLAGS_warmup_epochs);
  options.ramp_epochs = absl::GetFlag(FLAGS_ramp_epochs);
  options.batch_size = absl::GetFlag(FLAGS_batch_size);
  options.lr = absl::GetFlag(FLAGS_lr);
  options.weight_decay = absl::GetFlag(FLAGS_weight_decay);
  options.threshold_lr = absl::GetFlag(FLAGS_threshold_lr);
  options.tga_scope = absl::GetFlag(FLAGS_tga_scope);
  options.tga_update = absl::GetFlag(FLAGS_tga_update);
  options.tga_scales = absl::GetFlag(FLAGS_tga_scales);
  options.threshold_batch = absl::GetFlag(FLAGS_threshold_batch);
  options.teacher = absl::GetFlag(FLAGS_teacher);
  options.kd_weight = absl::GetFlag(FLAGS_kd_weight);
  options.kd_temperature = absl::GetFlag(FLAGS_kd_temperature);
  options.random_erasing = absl::GetFlag(FLAGS_random_erasing);
  options.sca_a = absl::GetFlag(FLAGS_sca_a);
  options.sca_lambda = absl::GetFlag(FLAGS_sca_lambda);
  options.sort_channels = absl::GetFlag(FLAGS_sort_channels);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.threads = absl::GetFlag(FLAGS_threads);
  options.calib_images = absl::GetFlag(FLAGS_calib_images);
  options.eval_images = absl::GetFlag(FLAGS_eval_images);
  options.train_images = absl::GetFlag(FLAGS_train_images);
  options.max_steps = absl::GetFlag(FLAGS_max_steps);
  options.search_samples = absl::GetFlag(FLAGS_search_samples);
  options.max_subnets = absl::GetFlag(FLAGS_max_subnets);
  options.resume = absl::GetFlag(FLAGS_resume);
  options.init_from = absl::GetFlag(FLAGS_init_from);
  options.plots = absl::GetFlag(FLAGS_plots);
  options.tiny = absl::GetFlag(FLAGS_tiny);
  options.export_from = absl::GetFlag(FLAGS_export_from);
  options.calibrate = absl::GetFlag(FLAGS_calibrate);
  options.command_line = absl::StrJoin(argv, argv + argc, " ");
  if (absl::Status s = ternserve::RunTraining(options); !s.ok()) {
    std::fprintf(stderr, "ternserve-train: %s\n", std::string(s.message()).c_str());
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}
