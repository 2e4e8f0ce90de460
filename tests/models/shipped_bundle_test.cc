// The bundle `make serve` ships (models/ternserve.tsn) is valid, and serving it reproduces the test
// accuracy its metadata claims.
#include <algorithm>

#include "gtest/gtest.h"
#include "models/bundle.h"
#include "models/fashion_mnist.h"
#include "models/torch_engine.h"

namespace ternserve {
namespace {

double ServedAccuracy(Engine& engine, int subnet_id, const ImageSet& test, int64_t count) {
  constexpr int kBatch = 250;
  int64_t correct = 0;
  for (int64_t start = 0; start < count; start += kBatch) {
    const int batch = static_cast<int>(std::min<int64_t>(kBatch, count - start));
    std::vector<float> images;
    for (int i = 0; i < batch; ++i) test.AppendImageAsFloat(start + i, &images);
    absl::StatusOr<std::vector<float>> logits = engine.Run(subnet_id, images, batch);
    EXPECT_TRUE(logits.ok()) << logits.status();
    if (!logits.ok()) return 0;
    for (int i = 0; i < batch; ++i) {
      const float* row = logits->data() + i * 10;
      correct += std::max_element(row, row + 10) - row == test.labels[start + i];
    }
  }
  return static_cast<double>(correct) / count;
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
  const SubnetMeta& smallest =
      *std::min_element(m.subnets.begin(), m.subnets.end(),
                        [](const SubnetMeta& a, const SubnetMeta& b) { return a.macs < b.macs; });
  EXPECT_NEAR(ServedAccuracy(**engine, smallest.id, *test, test->count), smallest.test_accuracy,
              0.001);
  // The largest on the first 2,000 (cheaper): within sampling noise of the recorded accuracy.
  const SubnetMeta& largest = (*bundle)->LargestSubnet();
  EXPECT_NEAR(ServedAccuracy(**engine, largest.id, *test, 2000), largest.test_accuracy, 0.03);
}

}  // namespace
}  // namespace ternserve
