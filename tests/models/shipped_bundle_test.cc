// The bundle `make serve` ships (models/ternserve.tsn) is valid, and serving it reproduces the test
// accuracy its metadata claims.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "gtest/gtest.h"
#include "models/bundle.h"
#include "models/fashion_mnist.h"
#include "models/ternary_engine.h"
#include "models/torch_engine.h"

namespace ternserve {
namespace {

// Top-1 predictions of `engine` on the first `count` images of `test`.
std::vector<int> Predict(Engine& engine, int subnet_id, const ImageSet& test, int64_t count) {
  constexpr int kBatch = 250;
  std::vector<int> predictions;
  for (int64_t start = 0; start < count; start += kBatch) {
    const int batch = static_cast<int>(std::min<int64_t>(kBatch, count - start));
    std::vector<float> images;
    for (int i = 0; i < batch; ++i) test.AppendImageAsFloat(start + i, &images);
    absl::StatusOr<LogitsView> logits = engine.Run(subnet_id, images, batch);
    EXPECT_TRUE(logits.ok()) << logits.status();
    if (!logits.ok()) return {};
    for (int i = 0; i < batch; ++i) {
      const absl::Span<const float> row = logits->row(i);
      predictions.push_back(
          static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin()));
    }
  }
  return predictions;
}

double Accuracy(const std::vector<int>& predictions, const ImageSet& test) {
  int64_t correct = 0;
  for (size_t i = 0; i < predictions.size(); ++i) correct += predictions[i] == test.labels[i];
  return predictions.empty() ? 0.0 : static_cast<double>(correct) / predictions.size();
}

double ServedAccuracy(Engine& engine, int subnet_id, const ImageSet& test, int64_t count) {
  return Accuracy(Predict(engine, subnet_id, test, count), test);
}

const SubnetMeta& Smallest(const BundleMetadata& m) {
  return *std::min_element(
      m.subnets.begin(), m.subnets.end(),
      [](const SubnetMeta& a, const SubnetMeta& b) { return a.macs < b.macs; });
}

TEST(ShippedBundleTest, IsValidTernaryAndServesItsRecordedAccuracy) {
  absl::StatusOr<std::unique_ptr<Bundle>> bundle =
      Bundle::Open(TERNSERVE_SOURCE_DIR "/models/ternserve.tsn");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const BundleMetadata& m = (*bundle)->metadata();
  EXPECT_TRUE(m.ternary);
  EXPECT_GE(m.subnets.size(), 2u);
  EXPECT_EQ(m.labels, FashionMnistLabels());
  absl::StatusOr<ImageSet> test = LoadFashionMnist(kFashionMnistDir, FashionMnistSplit::kTest);
  ASSERT_TRUE(test.ok()) << test.status();
  absl::StatusOr<std::unique_ptr<Engine>> engine = CreateTorchEngine(**bundle);
  ASSERT_TRUE(engine.ok()) << engine.status();
  // The cheapest sub-net on all 10,000 test images: the served accuracy is the recorded one (the
  // training-side evaluation and the folded, dequantized serving network may differ on a handful of
  // ties).
  const SubnetMeta& smallest = Smallest(m);
  EXPECT_NEAR(ServedAccuracy(**engine, smallest.id, *test, test->count), smallest.test_accuracy,
              0.001);
  // The largest on the first 2,000 (cheaper): within sampling noise of the recorded accuracy.
  const SubnetMeta& largest = (*bundle)->LargestSubnet();
  EXPECT_NEAR(ServedAccuracy(**engine, largest.id, *test, 2000), largest.test_accuracy, 0.03);
}

// The serving engine (integer kernels, u8 activations) against the fp32 oracle on all 10,000 test
// images, for the largest and the smallest sub-net: top-1 agreement >= 99.5% and accuracy within
// 0.2 points.
TEST(ShippedBundleTest, TernaryEngineAgreesWithTorchEngine) {
  absl::StatusOr<std::unique_ptr<Bundle>> bundle =
      Bundle::Open(TERNSERVE_SOURCE_DIR "/models/ternserve.tsn");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  absl::StatusOr<ImageSet> test = LoadFashionMnist(kFashionMnistDir, FashionMnistSplit::kTest);
  ASSERT_TRUE(test.ok()) << test.status();
  absl::StatusOr<std::unique_ptr<Engine>> torch_engine = CreateTorchEngine(**bundle);
  ASSERT_TRUE(torch_engine.ok()) << torch_engine.status();
  absl::StatusOr<std::unique_ptr<TernaryEngine>> ternary = TernaryEngine::Create(**bundle);
  ASSERT_TRUE(ternary.ok()) << ternary.status();
  std::printf("ternary engine: isa %s, %d threads\n", (*ternary)->isa().c_str(),
              (*ternary)->threads());
  for (const SubnetMeta* s : {&(*bundle)->LargestSubnet(), &Smallest((*bundle)->metadata())}) {
    const std::vector<int> want = Predict(**torch_engine, s->id, *test, test->count);
    const std::vector<int> got = Predict(**ternary, s->id, *test, test->count);
    ASSERT_EQ(want.size(), got.size());
    int64_t agree = 0;
    for (size_t i = 0; i < want.size(); ++i) agree += want[i] == got[i];
    const double agreement = static_cast<double>(agree) / want.size();
    const double torch_accuracy = Accuracy(want, *test), ternary_accuracy = Accuracy(got, *test);
    std::printf("%s: top-1 agreement %.2f%%, accuracy torch %.2f%% ternary %.2f%%\n",
                s->name.c_str(), 100 * agreement, 100 * torch_accuracy, 100 * ternary_accuracy);
    EXPECT_GE(agreement, 0.995) << s->name;
    EXPECT_NEAR(ternary_accuracy, torch_accuracy, 0.002) << s->name;
  }
}

}  // namespace
}  // namespace ternserve
