// Fashion-MNIST as LibTorch tensors for training: the 55,000 / 5,000 train / validation split of
// the training file (the validation split is its last 5,000 images, docs/architecture.md "The
// SuperNet"), the 10,000 test images, and the training augmentation.
#ifndef TERNSERVE_MODELS_TRAIN_DATA_H_
#define TERNSERVE_MODELS_TRAIN_DATA_H_

#include <torch/torch.h>

#include <random>
#include <string>

#include "absl/status/statusor.h"

namespace ternserve {

inline constexpr int kValidationImages = 5000;

struct Split {
  torch::Tensor images;  // [N, 1, 28, 28] float in [0, 1]
  torch::Tensor labels;  // [N] int64

  int64_t size() const { return images.size(0); }
  // The first n examples (all of them when n <= 0 or n >= size()).
  Split Head(int64_t n) const;
};

struct TrainingData {
  Split train;  // training file minus its last 5,000 images
  Split val;    // the training file's last 5,000 images
  Split test;   // the test file; for reporting only
};

// `train_images` / `eval_images` > 0 keep only that many training / validation-and-test images
// (tiny runs).
absl::StatusOr<TrainingData> LoadTrainingData(const std::string& dir, int64_t train_images,
                                              int64_t eval_images);

// Random translation by up to 2 pixels (zero padding) and a random horizontal flip, per image.
torch::Tensor Augment(const torch::Tensor& x, std::mt19937_64& rng);

// Random erasing (Zhong et al., AAAI 2020): with probability `p` per image, a rectangle of 2% to
// 33% of the image, aspect ratio 0.3 to 3.3, set to 0 (the background of Fashion-MNIST's [0, 1]
// pixels). p = 0 returns `x` and draws nothing from `rng`, so a run without it sees the batches
// it saw before.
torch::Tensor RandomErase(const torch::Tensor& x, double p, std::mt19937_64& rng);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_TRAIN_DATA_H_
