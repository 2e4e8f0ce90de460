// The CUDA kernels (models/kernels/cuda/ternary_cuda.h) on a device against the CPU references,
// bit for bit, on the same cases as the CPU emulation of their bodies (cuda_emulation_test.cc): the
// conv against TernaryConvScalar on every case of the case list and on random shapes (whole
// tensors on the slice's own pack, and sliced views of the wider pack, the way the CUDA engine
// uploads a layer once for every sub-net), the linear, the stem quantization and the pool. Only
// built with TERNSERVE_CUDA; every test skips, naming why, where no device is present.
#include <cuda_runtime.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/conv_cases.h"
#include "models/kernels/conv_kernels.h"
#include "models/kernels/conv_params.h"
#include "models/kernels/cuda/ternary_cuda.h"
#include "models/kernels/ternary_blocks.h"
#include "tests/models/kernels/conv_checks.h"
#include "tests/models/kernels/cuda_checks.h"

namespace ternserve::kernels::cuda {
namespace {

using testing::Output;
using testing::RandomConvCases;
using testing::RunScalar;
using testing::SameOutput;

#define ASSERT_CUDA_OK(expr)                                                                 \
  do {                                                                                       \
    const cudaError_t cuda_error_ = (expr);                                                  \
    ASSERT_EQ(cuda_error_, cudaSuccess) << #expr << ": " << cudaGetErrorString(cuda_error_); \
  } while (0)

// A device copy of a host vector (or an uninitialized device array), freed on destruction.
template <typename T>
class DeviceArray {
 public:
  DeviceArray() = default;
  explicit DeviceArray(size_t count) { Allocate(count); }
  explicit DeviceArray(const std::vector<T>& host) {
    Allocate(host.size());
    if (!host.empty() && error_ == cudaSuccess) {
      error_ = cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
    }
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (data_ != nullptr) cudaFree(data_);
  }

  T* data() const { return data_; }
  cudaError_t error() const { return error_; }
  // The first `count` elements back on the host.
  cudaError_t Download(size_t count, std::vector<T>* host) const {
    host->resize(count);
    if (count == 0) return cudaSuccess;
    return cudaMemcpy(host->data(), data_, count * sizeof(T), cudaMemcpyDeviceToHost);
  }

 private:
  void Allocate(size_t count) {
    // At least one element, so that every array has a valid device address.
    error_ = cudaMalloc(&data_, (count > 0 ? count : 1) * sizeof(T));
    if (error_ != cudaSuccess) data_ = nullptr;
  }
  T* data_ = nullptr;
  cudaError_t error_ = cudaSuccess;
};

class CudaKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!CudaDevicePresent(&why)) GTEST_SKIP() << "no CUDA device: " << why;
  }
};

// The conv of `p` on the device, with the blocks of `pack` uploaded as they are and `view` (a view
// of `pack`) rebased onto them; the output poisoned first, so that every element must be written.
void RunOnDevice(const ConvProblem& p, const PackedTernaryConv& pack,
                 const TernaryConvWeights& view, Output* got) {
  const int64_t elements = p.OutElements();
  const std::vector<WeightBlock> blocks(pack.blocks, pack.blocks + pack.block_count());
  DeviceArray<WeightBlock> d_blocks(blocks);
  DeviceArray<uint8_t> d_input(p.input);
  DeviceArray<float> d_multiplier(p.multiplier), d_bias(p.bias);
  DeviceArray<uint8_t> d_residual_u8(p.residual_u8);
  DeviceArray<float> d_residual_f32(p.residual_f32);
  DeviceArray<uint8_t> d_out_u8(std::vector<uint8_t>(elements, 0xAB));
  DeviceArray<float> d_out_f32(std::vector<float>(elements, -12345.0f));
  for (cudaError_t e :
       {d_blocks.error(), d_input.error(), d_multiplier.error(), d_bias.error(),
        d_residual_u8.error(), d_residual_f32.error(), d_out_u8.error(), d_out_f32.error()}) {
    ASSERT_CUDA_OK(e);
  }

  TernaryConvWeights weights = view;
  weights.blocks = d_blocks.data() + (view.blocks - pack.blocks);
  ConvInput input = p.Input();
  input.data = d_input.data();
  ConvEpilogue e;
  e.multiplier = d_multiplier.data();
  e.bias = d_bias.data();
  if (p.spec.residual == Residual::kU8) e.residual_u8 = d_residual_u8.data();
  if (p.spec.residual == Residual::kF32) e.residual_f32 = d_residual_f32.data();
  e.residual_scale = p.residual_scale;
  e.relu = p.spec.relu;
  e.out_scale = p.out_scale;
  if (p.spec.u8_output) {
    e.out_u8 = d_out_u8.data();
  } else {
    e.out_f32 = d_out_f32.data();
  }
  ASSERT_CUDA_OK(LaunchTernaryConv(p.shape, input, weights, e, /*stream=*/nullptr));
  ASSERT_CUDA_OK(cudaDeviceSynchronize());
  if (p.spec.u8_output) {
    ASSERT_CUDA_OK(d_out_u8.Download(elements, &got->u8));
    got->f32.clear();
  } else {
    ASSERT_CUDA_OK(d_out_f32.Download(elements, &got->f32));
    got->u8.clear();
  }
}

// The whole shape on the slice's own pack, then the sliced view of the wider pack.
void CheckCase(const ConvCase& c, int batch, uint32_t seed) {
  const ConvProblem p = MakeConvProblem(c, batch, seed);
  const Output want = RunScalar(p);
  Output got;
  RunOnDevice(p, p.weights, p.weights, &got);
  if (::testing::Test::HasFatalFailure()) return;
  ASSERT_TRUE(SameOutput(p, got.u8, got.f32, want.u8, want.f32)) << p.spec.Describe();

  PackedTernaryConv full;
  ASSERT_TRUE(RepackTernaryConv(p.codes.data(), p.full_out, p.full_in, c.kernel, p.full_out,
                                p.full_in, &full));
  TernaryConvWeights view;
  ASSERT_TRUE(SliceTernaryConv(full, c.out_channels, c.in_channels, &view));
  RunOnDevice(p, full, view, &got);
  if (::testing::Test::HasFatalFailure()) return;
  ASSERT_TRUE(SameOutput(p, got.u8, got.f32, want.u8, want.f32))
      << "sliced view, " << p.spec.Describe();
}

TEST_F(CudaKernelsTest, ConvMatchesScalarOnEveryCase) {
  uint32_t seed = 1;
  for (const ConvCase& c : ConvCases()) {
    std::vector<int> batches = {c.batch};
    if (c.layer) batches.push_back(1);
    for (int batch : batches) {
      CheckCase(c, batch, seed++);
      if (HasFatalFailure()) return;
    }
  }
}

TEST_F(CudaKernelsTest, ConvMatchesScalarOnRandomShapes) {
  uint32_t seed = 1000;
  for (const ConvCase& c : RandomConvCases(80, 17, 6'000'000)) {
    CheckCase(c, c.batch, seed++);
    if (HasFatalFailure()) return;
  }
}

// The largest layer at the engine's batch limit (a grid of many blocks).
TEST_F(CudaKernelsTest, ConvMatchesScalarOnLayersAtBatch64) {
  uint32_t seed = 500;
  for (const ConvCase& c : ConvCases()) {
    if (!c.layer) continue;
    CheckCase(c, 64, seed++);
    if (HasFatalFailure()) return;
  }
}

TEST_F(CudaKernelsTest, LinearMatchesScalar) {
  for (int in : {1, 5, 32, 127, 128}) {
    const ConvCase c = testing::LinearCase(in);
    CheckCase(c, 64, static_cast<uint32_t>(in));
    if (HasFatalFailure()) return;
  }
}

TEST_F(CudaKernelsTest, QuantizeStemInputMatchesHost) {
  std::mt19937 rng(17);
  for (const auto& mean_std : testing::kStemMeanStd) {
    const float mean = mean_std[0], std = mean_std[1];
    const StemQuantization q = StemInputQuantization(mean, std);
    for (int count : {1, 255, 256, 257, 64 * 784}) {
      const std::vector<float> pixels = testing::StemPixels(count, mean, &rng);
      std::vector<uint8_t> want(static_cast<size_t>(count) * kChannelAlign);
      QuantizeStemInput(pixels.data(), count, mean, std, q, want.data());
      DeviceArray<float> d_pixels(pixels);
      DeviceArray<uint8_t> d_out(std::vector<uint8_t>(want.size(), 0xAB));
      ASSERT_CUDA_OK(d_pixels.error());
      ASSERT_CUDA_OK(d_out.error());
      ASSERT_CUDA_OK(
          LaunchQuantizeStemInput(d_pixels.data(), count, mean, std, q, d_out.data(), nullptr));
      ASSERT_CUDA_OK(cudaDeviceSynchronize());
      std::vector<uint8_t> got;
      ASSERT_CUDA_OK(d_out.Download(want.size(), &got));
      ASSERT_EQ(got, want) << "mean " << mean << " std " << std << " count " << count;
    }
  }
}

TEST_F(CudaKernelsTest, AveragePoolMatchesEngine) {
  std::mt19937 rng(19);
  struct PoolCase {
    int batch, pixels, channels;
    float to_pool;
  };
  const PoolCase cases[] = {
      {1, 49, 128, 0.037f / (49 * 0.05f)},
      {64, 49, 96, 0.021f / (49 * 0.03f)},
      {3, 1, 1, 1.0f},
      {5, 2, 17, 0.5f},
      {7, 16, 33, 0.002f},
      {2, 4, 5, 100.0f},
  };
  for (const PoolCase& c : cases) {
    const std::vector<uint8_t> h = testing::RandomFeatures(c.batch, c.pixels, c.channels, &rng);
    const std::vector<uint8_t> want =
        testing::ReferenceAveragePoolU8(h, c.batch, c.pixels, c.channels, c.to_pool);
    DeviceArray<uint8_t> d_h(h);
    DeviceArray<uint8_t> d_out(std::vector<uint8_t>(want.size(), 0xAB));
    ASSERT_CUDA_OK(d_h.error());
    ASSERT_CUDA_OK(d_out.error());
    ASSERT_CUDA_OK(LaunchAveragePoolU8(d_h.data(), c.batch, c.pixels, c.channels, c.to_pool,
                                       d_out.data(), nullptr));
    ASSERT_CUDA_OK(cudaDeviceSynchronize());
    std::vector<uint8_t> got;
    ASSERT_CUDA_OK(d_out.Download(want.size(), &got));
    ASSERT_EQ(got, want) << c.batch << "x" << c.pixels << "x" << c.channels;
  }
}

// Arguments the kernels cannot run are refused before any launch.
TEST_F(CudaKernelsTest, LaunchRefusesInvalidArguments) {
  DeviceArray<uint8_t> buffer(64);
  ASSERT_CUDA_OK(buffer.error());
  ConvShape shape;
  shape.in_h = shape.in_w = 1;
  TernaryConvWeights w;
  w.kernel = 2;  // not 1 or 3
  w.out_channels = w.in_channels = 4;
  w.out_blocks = w.in_groups = w.group_stride = 1;
  w.blocks = reinterpret_cast<const WeightBlock*>(buffer.data());
  ConvEpilogue e;
  e.out_u8 = buffer.data();
  EXPECT_EQ(LaunchTernaryConv(shape, ConvInput{buffer.data(), 0}, w, e, nullptr),
            cudaErrorInvalidValue);
  w.kernel = 1;
  e.multiplier = e.bias = reinterpret_cast<const float*>(buffer.data());
  EXPECT_EQ(LaunchTernaryConv(shape, ConvInput{buffer.data() + 1, 0}, w, e, nullptr),
            cudaErrorInvalidValue);  // misaligned input
  EXPECT_EQ(LaunchTernaryConv(shape, ConvInput{buffer.data(), 300}, w, e, nullptr),
            cudaErrorInvalidValue);  // zero point not a u8
  EXPECT_EQ(
      LaunchQuantizeStemInput(nullptr, -1, 0.5f, 0.5f, StemQuantization{}, buffer.data(), nullptr),
      cudaErrorInvalidValue);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace ternserve::kernels::cuda
