// Tests for models/cuda_engine.cc: CudaEngine against TernaryEngine (the CPU kernels) on the
// shipped bundle. Both run the same TernaryPlan with kernels that compute the integer accumulator
// and float epilogue of conv_params.h exactly, so the logits must be bit-identical; top-1 agreement
// on the 10,000 Fashion-MNIST test images is the bound (>= 99.5%).
//
// Without a CUDA device every test but the first skips with "no CUDA device: <why>"; the first
// checks that Create then fails with a clear FAILED_PRECONDITION.
#include "models/cuda_engine.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/bundle.h"
#include "models/fashion_mnist.h"
#include "models/ternary_engine.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

constexpr char kShippedBundle[] = TERNSERVE_SOURCE_DIR "/models/ternserve.tsn";

std::unique_ptr<Bundle> ShippedBundle() {
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(kShippedBundle);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  return bundle.ok() ? *std::move(bundle) : nullptr;
}

// The engine, or null with *why set when this machine has no CUDA device (the caller skips).
std::unique_ptr<CudaEngine> CreateOrWhy(const Bundle& bundle, const CudaEngineOptions& options,
                                        std::string* why) {
  absl::StatusOr<std::unique_ptr<CudaEngine>> engine = CudaEngine::Create(bundle, options);
  if (engine.ok()) return *std::move(engine);
  if (engine.status().code() == absl::StatusCode::kFailedPrecondition &&
      absl::StrContains(engine.status().message(), "no CUDA device")) {
    *why = std::string(engine.status().message());
  } else {
    ADD_FAILURE() << engine.status();
    *why = "CudaEngine::Create failed";
  }
  return nullptr;
}

#define CREATE_CUDA_ENGINE_OR_SKIP(var, bundle, options)                      \
  std::string var##_why;                                                      \
  std::unique_ptr<CudaEngine> var = CreateOrWhy(bundle, options, &var##_why); \
  if (var == nullptr) GTEST_SKIP() << "no CUDA device: " << var##_why

std::vector<float> RandomImages(int batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> images(static_cast<size_t>(batch) * kImagePixels);
  for (float& p : images) p = unit(rng);
  return images;
}

// Bit patterns, so that -0.0 vs 0.0 or a NaN would show as a difference too.
std::vector<uint32_t> Bits(const std::vector<float>& v) {
  std::vector<uint32_t> bits(v.size());
  std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));
  return bits;
}

int Top1(absl::Span<const float> row) {
  return static_cast<int>(std::max_element(row.begin(), row.end()) - row.begin());
}

TEST(CudaEngineTest, WithoutDeviceCreateIsAClearFailedPrecondition) {
  const std::unique_ptr<Bundle> bundle = ShippedBundle();
  ASSERT_NE(bundle, nullptr);
  absl::StatusOr<std::unique_ptr<CudaEngine>> engine = CudaEngine::Create(*bundle);
  if (engine.ok()) GTEST_SKIP() << "this machine has a CUDA device: " << (*engine)->device_name();
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition) << engine.status();
  EXPECT_THAT(std::string(engine.status().message()), HasSubstr("--engine=cuda: no CUDA device"));
}

TEST(CudaEngineTest, RejectsUnknownSubnetWrongSizeAndMissingDevice) {
  const std::unique_ptr<Bundle> bundle = ShippedBundle();
  ASSERT_NE(bundle, nullptr);
  CREATE_CUDA_ENGINE_OR_SKIP(engine, *bundle, CudaEngineOptions{});
  EXPECT_EQ(engine->name(), "cuda");
  EXPECT_THAT(engine->isa(), ::testing::StartsWith("sm_"));
  EXPECT_EQ(engine->Run(9999, RandomImages(1, 1), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  const int id = bundle->metadata().subnets.front().id;
  EXPECT_EQ(engine->Run(id, RandomImages(2, 1), 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->Run(id, {}, 0).status().code(), absl::StatusCode::kInvalidArgument);
  CudaEngineOptions options;
  options.device = 1000;
  absl::StatusOr<std::unique_ptr<CudaEngine>> none = CudaEngine::Create(*bundle, options);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
}

// Every sub-net at batch 1, 7 and 32, with and without graphs, twice each (the second run of a
// graph is a replay): the logits equal TernaryEngine's bit for bit.
TEST(CudaEngineTest, LogitsBitIdenticalToTernaryEngineOnEverySubnet) {
  const std::unique_ptr<Bundle> bundle = ShippedBundle();
  ASSERT_NE(bundle, nullptr);
  CudaEngineOptions graphs_on, graphs_off;
  graphs_off.use_graphs = false;
  CREATE_CUDA_ENGINE_OR_SKIP(with_graphs, *bundle, graphs_on);
  CREATE_CUDA_ENGINE_OR_SKIP(without_graphs, *bundle, graphs_off);
  absl::StatusOr<std::unique_ptr<TernaryEngine>> cpu = TernaryEngine::Create(*bundle);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  // Size the buffers for batch 32 first: growing them later would drop the graphs captured so far
  // (they hold the buffers' addresses), and the count below assumes none was dropped.
  const int first = bundle->metadata().subnets.front().id;
  ASSERT_TRUE(with_graphs->Run(first, RandomImages(32, 0), 32).ok());
  ASSERT_TRUE(without_graphs->Run(first, RandomImages(32, 0), 32).ok());
  for (const SubnetMeta& subnet : bundle->metadata().subnets) {
    for (int batch : {1, 7, 32}) {
      SCOPED_TRACE(::testing::Message() << "sub-net " << subnet.id << " batch " << batch);
      const std::vector<float> images = RandomImages(batch, 100 * subnet.id + batch);
      absl::StatusOr<LogitsView> expected = (*cpu)->Run(subnet.id, images, batch);
      ASSERT_TRUE(expected.ok()) << expected.status();
      const std::vector<uint32_t> want = Bits(expected->ToVector());
      for (CudaEngine* engine : {with_graphs.get(), without_graphs.get()}) {
        for (int round = 0; round < 2; ++round) {
          absl::StatusOr<LogitsView> got = engine->Run(subnet.id, images, batch);
          ASSERT_TRUE(got.ok()) << got.status();
          EXPECT_EQ(Bits(got->ToVector()), want) << "graphs " << (engine == with_graphs.get());
        }
      }
    }
  }
  EXPECT_EQ(with_graphs->graphs_off_reason(), "");
  EXPECT_EQ(with_graphs->graphs(), 3 * static_cast<int>(bundle->metadata().subnets.size()));
  EXPECT_EQ(without_graphs->graphs(), 0);
}

// The parity bound: top-1 agreement with TernaryEngine >= 99.5% on the 10,000 test images,
// for every sub-net (batches of 250, as the shipped-bundle test runs them).
TEST(CudaEngineTest, Top1AgreesWithTernaryEngineOnTheTestSet) {
  const std::unique_ptr<Bundle> bundle = ShippedBundle();
  ASSERT_NE(bundle, nullptr);
  CREATE_CUDA_ENGINE_OR_SKIP(gpu, *bundle, CudaEngineOptions{});
  absl::StatusOr<ImageSet> test = LoadFashionMnist(kFashionMnistDir, FashionMnistSplit::kTest);
  ASSERT_TRUE(test.ok()) << test.status();
  absl::StatusOr<std::unique_ptr<TernaryEngine>> cpu = TernaryEngine::Create(*bundle);
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  constexpr int kBatch = 250;
  for (const SubnetMeta& subnet : bundle->metadata().subnets) {
    int64_t agree = 0;
    for (int64_t start = 0; start < test->count; start += kBatch) {
      const int batch = static_cast<int>(std::min<int64_t>(kBatch, test->count - start));
      std::vector<float> images;
      for (int i = 0; i < batch; ++i) test->AppendImageAsFloat(start + i, &images);
      absl::StatusOr<LogitsView> want = (*cpu)->Run(subnet.id, images, batch);
      ASSERT_TRUE(want.ok()) << want.status();
      const std::vector<float> cpu_logits = want->ToVector();
      absl::StatusOr<LogitsView> got = gpu->Run(subnet.id, images, batch);
      ASSERT_TRUE(got.ok()) << got.status();
      const int classes = got->num_classes;
      for (int n = 0; n < batch; ++n) {
        const absl::Span<const float> cpu_row(cpu_logits.data() + n * classes, classes);
        agree += Top1(got->row(n)) == Top1(cpu_row);
      }
    }
    const double agreement = static_cast<double>(agree) / test->count;
    EXPECT_GE(agreement, 0.995) << "sub-net " << subnet.id << " (" << subnet.name << ")";
  }
}

// One engine per worker, each on its own stream, running at once: each gets its own results (no
// shared buffers, no cross-stream interference).
TEST(CudaEngineTest, EnginesOnSeparateStreamsRunConcurrently) {
  const std::unique_ptr<Bundle> bundle = ShippedBundle();
  ASSERT_NE(bundle, nullptr);
  CREATE_CUDA_ENGINE_OR_SKIP(first, *bundle, CudaEngineOptions{});
  CREATE_CUDA_ENGINE_OR_SKIP(second, *bundle, CudaEngineOptions{});
  const int id = bundle->LargestSubnet().id;
  const std::vector<float> a = RandomImages(32, 1), b = RandomImages(32, 2);
  absl::StatusOr<LogitsView> want_a = first->Run(id, a, 32);
  ASSERT_TRUE(want_a.ok()) << want_a.status();
  const std::vector<float> expected_a = want_a->ToVector();
  absl::StatusOr<LogitsView> want_b = second->Run(id, b, 32);
  ASSERT_TRUE(want_b.ok()) << want_b.status();
  const std::vector<float> expected_b = want_b->ToVector();
  auto worker = [id](CudaEngine* engine, const std::vector<float>* images,
                     const std::vector<float>* expected, int* mismatches) {
    for (int i = 0; i < 50; ++i) {
      absl::StatusOr<LogitsView> got = engine->Run(id, *images, 32);
      if (!got.ok() || got->ToVector() != *expected) ++*mismatches;
    }
  };
  int mismatches_a = 0, mismatches_b = 0;
  std::thread t1(worker, first.get(), &a, &expected_a, &mismatches_a);
  std::thread t2(worker, second.get(), &b, &expected_b, &mismatches_b);
  t1.join();
  t2.join();
  EXPECT_EQ(mismatches_a, 0);
  EXPECT_EQ(mismatches_b, 0);
}

}  // namespace
}  // namespace ternserve
