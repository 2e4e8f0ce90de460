// TernaryEngine: its refusals (ISA, bundle), its request checks, and that its result does not
// depend on the ISA or the thread count. Parity with TorchEngine on the shipped bundle is
// ternary_parity_test.cc.
#include "models/ternary_engine.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/kernels/conv_kernels.h"
#include "tests/testing/synthetic_bundle.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

std::vector<float> RandomImages(int batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> images(static_cast<size_t>(batch) * 28 * 28);
  for (float& p : images) p = pixel(rng);
  return images;
}

bool BitEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(TernaryEngineTest, RefusesUnknownIsaNamingTheChoices) {
  const auto bundle = testing::CalibratedSyntheticBundle();
  TernaryEngineOptions options;
  options.isa = "sse9";
  absl::StatusOr<std::unique_ptr<TernaryEngine>> engine = TernaryEngine::Create(*bundle, options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("scalar, avx2, avx512vnni"));
}

TEST(TernaryEngineTest, RefusesAnIsaTheCpuLacks) {
  const auto bundle = testing::CalibratedSyntheticBundle();
  // A CPU with AVX2 and AVX-512 F/BW/VL but no VNNI, whatever this machine has.
  kernels::CpuFeatures cpu;
  cpu.avx2 = cpu.avx512f = cpu.avx512bw = cpu.avx512vl = true;
  TernaryEngineOptions options;
  options.cpu = cpu;
  options.isa = "avx512vnni";
  absl::StatusOr<std::unique_ptr<TernaryEngine>> engine = TernaryEngine::Create(*bundle, options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(engine.status().message()),
              HasSubstr("this CPU lacks avx512vnni (avx512vnni; it supports: scalar, avx2"));
  // The same CPU runs what it has, and picks the fastest of those by default.
  options.isa = "avx2";
  engine = TernaryEngine::Create(*bundle, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->isa(), "avx2");
  options.isa.clear();
  options.cpu = kernels::CpuFeatures{};  // nothing but scalar
  engine = TernaryEngine::Create(*bundle, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->isa(), "scalar");
}

TEST(TernaryEngineTest, RefusesBundleWithoutActivationScales) {
  absl::StatusOr<std::unique_ptr<Bundle>> bundle =
      Bundle::FromBytes(testing::SyntheticBundleBytes(), "uncalibrated.tsn");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  absl::StatusOr<std::unique_ptr<TernaryEngine>> engine = TernaryEngine::Create(**bundle);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("--calibrate"));
}

TEST(TernaryEngineTest, RefusesFloatBundle) {
  testing::SyntheticBundleOptions options;
  options.ternary = false;
  absl::StatusOr<std::unique_ptr<Bundle>> bundle =
      Bundle::FromBytes(testing::SyntheticBundleBytes(options), "fp32.tsn");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  absl::StatusOr<std::unique_ptr<TernaryEngine>> engine = TernaryEngine::Create(**bundle);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("not ternary"));
}

TEST(TernaryEngineTest, RejectsUnknownSubnetAndWrongSize) {
  const auto bundle = testing::CalibratedSyntheticBundle();
  auto engine = TernaryEngine::Create(*bundle);
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ((*engine)->Run(99, RandomImages(1, 1), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->Run(0, RandomImages(2, 1), 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->Run(0, {}, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

// Every supported ISA and thread count gives the same logits, bit for bit, on every sub-net, for
// odd batch sizes too (the kernels are bit-exact; the engine's split over rows must not matter).
TEST(TernaryEngineTest, LogitsIdenticalAcrossIsasAndThreads) {
  const auto bundle = testing::CalibratedSyntheticBundle();
  TernaryEngineOptions reference_options;
  reference_options.isa = "scalar";
  reference_options.threads = 1;
  auto reference = TernaryEngine::Create(*bundle, reference_options);
  ASSERT_TRUE(reference.ok()) << reference.status();

  size_t count = 0;
  const kernels::TernaryConvKernel* table = kernels::TernaryConvKernels(&count);
  for (size_t i = 0; i < count; ++i) {
    if (!table[i].supported()) {
      std::printf("skipping %s: this CPU lacks it\n", table[i].name);
      continue;
    }
    for (int threads : {1, 2, 3}) {
      TernaryEngineOptions options;
      options.isa = table[i].name;
      options.threads = threads;
      auto engine = TernaryEngine::Create(*bundle, options);
      ASSERT_TRUE(engine.ok()) << engine.status();
      EXPECT_EQ((*engine)->isa(), table[i].name);
      EXPECT_EQ((*engine)->threads(), threads);
      for (const SubnetMeta& s : bundle->metadata().subnets) {
        for (int batch : {1, 5}) {
          const std::vector<float> images = RandomImages(batch, 17 + batch);
          auto want_view = (*reference)->Run(s.id, images, batch);
          ASSERT_TRUE(want_view.ok());
          const std::vector<float> want = want_view->ToVector();
          auto got = (*engine)->Run(s.id, images, batch);
          ASSERT_TRUE(got.ok());
          ASSERT_EQ(want.size(), static_cast<size_t>(batch) * 10);
          EXPECT_TRUE(BitEqual(want, got->ToVector()))
              << table[i].name << " threads " << threads << " sub-net " << s.name << " batch "
              << batch;
        }
      }
    }
  }
}

// Weights are packed once per layer and shared by every sub-net: adding sub-nets adds only their
// per-channel epilogues, and the packs themselves are far below fp32.
TEST(TernaryEngineTest, ResidentWeightsSharedAcrossSubnets) {
  const auto bundle = testing::CalibratedSyntheticBundle();
  auto engine = TernaryEngine::Create(*bundle);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const SubnetMeta& largest = bundle->LargestSubnet();
  const size_t fp32_bytes = static_cast<size_t>(largest.params) * sizeof(float);
  const size_t largest_bytes = (*engine)->resident_weight_bytes(largest.id);
  EXPECT_GT(largest_bytes, 0u);
  // 2 bits per weight, plus per-channel scales and the sub-net's epilogue.
  EXPECT_LT(largest_bytes, fp32_bytes / 12) << largest_bytes << " vs fp32 " << fp32_bytes;
  EXPECT_EQ((*engine)->resident_weight_bytes(12345), 0u);
  // The whole engine adds only the other sub-nets' epilogues: the packs are counted once.
  const size_t total = (*engine)->resident_weight_bytes();
  EXPECT_GT(total, largest_bytes);
  EXPECT_LT(total, 2 * largest_bytes);
}

}  // namespace
}  // namespace ternserve
