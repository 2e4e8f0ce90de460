#include "models/train_data.h"

#include <algorithm>
#include <cmath>

#include "models/arch.h"
#include "models/fashion_mnist.h"

namespace ternserve {
namespace {

Split ToTensors(const ImageSet& set, int64_t begin, int64_t end) {
  const int64_t n = end - begin;
  torch::Tensor pixels =
      torch::from_blob(const_cast<uint8_t*>(set.pixels.data()) + begin * kImagePixels,
                       {n, 1, kImageSide, kImageSide}, torch::kUInt8)
          .to(torch::kFloat32)
          .div_(255.0);
  torch::Tensor labels =
      torch::from_blob(const_cast<uint8_t*>(set.labels.data()) + begin, {n}, torch::kUInt8)
          .to(torch::kInt64);
  return {pixels, labels};
}

}  // namespace

Split Split::Head(int64_t n) const {
  if (n <= 0 || n >= size()) return *this;
  return {images.narrow(0, 0, n), labels.narrow(0, 0, n)};
}

absl::StatusOr<TrainingData> LoadTrainingData(const std::string& dir, int64_t train_images,
                                              int64_t eval_images) {
  absl::StatusOr<ImageSet> train = LoadFashionMnist(dir, FashionMnistSplit::kTrain);
  if (!train.ok()) return train.status();
  absl::StatusOr<ImageSet> test = LoadFashionMnist(dir, FashionMnistSplit::kTest);
  if (!test.ok()) return test.status();
  if (train->count <= kValidationImages) {
    return absl::InvalidArgumentError(
        "the training file has too few images for a 5,000-image validation split");
  }
  const int64_t train_end = train->count - kValidationImages;
  TrainingData data;
  data.train = ToTensors(*train, 0, train_end).Head(train_images);
  data.val = ToTensors(*train, train_end, train->count).Head(eval_images);
  data.test = ToTensors(*test, 0, test->count).Head(eval_images);
  return data;
}

torch::Tensor Augment(const torch::Tensor& x, std::mt19937_64& rng) {
  const int64_t n = x.size(0);
  const torch::Tensor padded = torch::constant_pad_nd(x, {2, 2, 2, 2}, 0.0);
  std::uniform_int_distribution<int> shift(0, 4);
  std::vector<torch::Tensor> crops;
  crops.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    crops.push_back(padded[i].narrow(1, shift(rng), kImageSide).narrow(2, shift(rng), kImageSide));
  }
  const torch::Tensor out = torch::stack(crops);
  std::bernoulli_distribution coin(0.5);
  std::vector<uint8_t> flips(n);
  for (auto& f : flips) f = coin(rng);
  const torch::Tensor flip =
      torch::from_blob(flips.data(), {n, 1, 1, 1}, torch::kUInt8).to(torch::kBool);
  return torch::where(flip, out.flip({3}), out);
}

torch::Tensor RandomErase(const torch::Tensor& x, double p, std::mt19937_64& rng) {
  if (p <= 0) return x;
  const int64_t n = x.size(0), side = x.size(3), rows = x.size(2);
  std::bernoulli_distribution erase(p);
  std::uniform_real_distribution<double> area(0.02, 0.33), log_aspect(std::log(0.3), std::log(3.3));
  torch::Tensor out = x.clone();
  for (int64_t i = 0; i < n; ++i) {
    if (!erase(rng)) continue;
    // Draw until the rectangle fits (as the paper does); a few tries suffice at these areas.
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = area(rng) * static_cast<double>(rows * side);
      const double aspect = std::exp(log_aspect(rng));
      const int64_t h = std::lround(std::sqrt(target * aspect));
      const int64_t w = std::lround(std::sqrt(target / aspect));
      if (h < 1 || w < 1 || h > rows || w > side) continue;
      const int64_t top = std::uniform_int_distribution<int64_t>(0, rows - h)(rng);
      const int64_t left = std::uniform_int_distribution<int64_t>(0, side - w)(rng);
      out[i].narrow(1, top, h).narrow(2, left, w).zero_();
      break;
    }
  }
  return out;
}

}  // namespace ternserve
