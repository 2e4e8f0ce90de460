#include "bench/agreement.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include "models/arch.h"
#include "models/fashion_mnist.h"

namespace ternserve::bench {
namespace {

class RotatedRunner final : public SubnetRunner {
 public:
  RotatedRunner(std::unique_ptr<SubnetRunner> runner, int classes)
      : runner_(std::move(runner)), classes_(classes) {}

  absl::StatusOr<std::vector<float>> Run(absl::Span<const float> images, int batch) override {
    absl::StatusOr<std::vector<float>> logits = runner_->Run(images, batch);
    if (!logits.ok()) return logits;
    for (size_t row = 0; row + classes_ <= logits->size(); row += classes_) {
      std::rotate(logits->begin() + row, logits->begin() + row + 1,
                  logits->begin() + row + classes_);
    }
    return logits;
  }
  size_t weight_bytes() const override { return runner_->weight_bytes(); }

 private:
  const std::unique_ptr<SubnetRunner> runner_;
  const int classes_;
};

}  // namespace

std::vector<int> Top1(const std::vector<float>& logits, int classes) {
  std::vector<int> top;
  for (size_t i = 0; i + classes <= logits.size(); i += classes) {
    const auto first = logits.begin() + i;
    top.push_back(static_cast<int>(std::max_element(first, first + classes) - first));
  }
  return top;
}

absl::StatusOr<std::vector<int>> Top1OfImages(SubnetRunner& runner, absl::Span<const float> images,
                                              int count, int batch, int classes) {
  std::vector<int> top;
  for (int first = 0; first < count; first += batch) {
    const int n = std::min(batch, count - first);
    absl::StatusOr<std::vector<float>> logits =
        runner.Run(images.subspan(static_cast<size_t>(first) * kImagePixels,
                                  static_cast<size_t>(n) * kImagePixels),
                   n);
    if (!logits.ok()) return logits.status();
    const std::vector<int> batch_top = Top1(*logits, classes);
    top.insert(top.end(), batch_top.begin(), batch_top.end());
  }
  return top;
}

double Agreement(const std::vector<int>& a, const std::vector<int>& b) {
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(a.size());
}

std::unique_ptr<SubnetRunner> RotateLogits(std::unique_ptr<SubnetRunner> runner, int classes) {
  return std::make_unique<RotatedRunner>(std::move(runner), classes);
}

std::vector<float> LoadAgreementImages(int count, bool* synthetic) {
  std::vector<float> pixels;
  absl::StatusOr<ImageSet> test = LoadFashionMnist(kFashionMnistDir, FashionMnistSplit::kTest);
  if (test.ok() && test->count >= count) {
    for (int i = 0; i < count; ++i) test->AppendImageAsFloat(i, &pixels);
    *synthetic = false;
    return pixels;
  }
  std::fprintf(stderr,
               "ternserve-bench: %s; using random images (rows say \"input\":\"synthetic\"; the "
               "agreement check is not applied to them)\n",
               test.ok() ? "too few test images" : test.status().ToString().c_str());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  pixels.resize(static_cast<size_t>(count) * kImagePixels);
  for (float& p : pixels) p = unit(rng);
  *synthetic = true;
  return pixels;
}

}  // namespace ternserve::bench
