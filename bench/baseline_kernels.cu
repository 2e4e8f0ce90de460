// The GPU baselines' own kernels (baseline_kernels.h). None of them is tuned: the trivial kernel
// must cost only its launch, and the cuDNN network's glue (conversion, pool) is one small launch
// each, as CudaEngine's stem quantization and pool are.
#include <cuda_fp16.h>

#include <cstdint>

#include "bench/baseline_kernels.h"

namespace ternserve::bench {
namespace {

constexpr int kThreads = 256;

unsigned Blocks(int64_t count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }

// A 32-bit integer hash (the "lowbias32" mix): deterministic, stateless per element.
__device__ uint32_t Hash(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// Uniform in [-1, 1].
__device__ float Unit(uint32_t seed, int64_t i) {
  const uint32_t h = Hash(seed ^ Hash(static_cast<uint32_t>(i) ^ static_cast<uint32_t>(i >> 32)));
  return static_cast<float>(h) * (2.0f / 4294967296.0f) - 1.0f;
}

__device__ int8_t SaturateInt8(float x) {
  return static_cast<int8_t>(fminf(fmaxf(rintf(x), -128.0f), 127.0f));
}

__global__ void TrivialGlobal(int* flag, int value) { *flag = value; }

__global__ void FillHalfGlobal(__half* data, int64_t count, float scale, uint32_t seed) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i < count) data[i] = __float2half(scale * Unit(seed, i));
}

__global__ void FillFloatGlobal(float* data, int64_t count, float scale, uint32_t seed) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i < count) data[i] = scale * Unit(seed, i);
}

__global__ void FillInt8Global(int8_t* data, int64_t count, int max_abs, uint32_t seed) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i < count) data[i] = SaturateInt8(static_cast<float>(max_abs) * Unit(seed, i));
}

// One thread per output element (image pixel x channel).
template <typename T>
__global__ void ImagesGlobal(const float* pixels, int64_t count, int channels, float mean,
                             float std, float inv_scale, T* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= count) return;
  const int64_t pixel = i / channels;
  const float x = i % channels == 0 ? (pixels[pixel] - mean) / std : 0.0f;
  if constexpr (sizeof(T) == 1) {
    out[i] = SaturateInt8(x * inv_scale);
  } else {
    out[i] = __float2half(x);
  }
}

// One thread per (image, channel), summing over the pixels (at most 7 x 7 here).
template <typename T>
__global__ void PoolGlobal(const T* in, int batch, int pixels, int channels, T* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (i >= static_cast<int64_t>(batch) * channels) return;
  const int64_t n = i / channels;
  const int c = static_cast<int>(i % channels);
  const T* image = in + n * pixels * channels + c;
  float sum = 0.0f;
  for (int p = 0; p < pixels; ++p) {
    if constexpr (sizeof(T) == 1) {
      sum += static_cast<float>(image[static_cast<int64_t>(p) * channels]);
    } else {
      sum += __half2float(image[static_cast<int64_t>(p) * channels]);
    }
  }
  if constexpr (sizeof(T) == 1) {
    out[i] = SaturateInt8(sum / static_cast<float>(pixels));
  } else {
    out[i] = __float2half(sum / static_cast<float>(pixels));
  }
}

constexpr int kImagePixels = 28 * 28;

}  // namespace

cudaError_t LaunchTrivialKernel(int* flag, int value, cudaStream_t stream) {
  TrivialGlobal<<<1, 1, 0, stream>>>(flag, value);
  return cudaGetLastError();
}

cudaError_t FillRandomHalf(void* data, int64_t count, float scale, uint32_t seed,
                           cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  FillHalfGlobal<<<Blocks(count), kThreads, 0, stream>>>(static_cast<__half*>(data), count, scale,
                                                         seed);
  return cudaGetLastError();
}

cudaError_t FillRandomFloat(float* data, int64_t count, float scale, uint32_t seed,
                            cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  FillFloatGlobal<<<Blocks(count), kThreads, 0, stream>>>(data, count, scale, seed);
  return cudaGetLastError();
}

cudaError_t FillRandomInt8(int8_t* data, int64_t count, int max_abs, uint32_t seed,
                           cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  FillInt8Global<<<Blocks(count), kThreads, 0, stream>>>(data, count, max_abs, seed);
  return cudaGetLastError();
}

cudaError_t ImagesToHalfNhwc(const float* pixels, int batch, int channels, float mean, float std,
                             void* out, cudaStream_t stream) {
  const int64_t count = static_cast<int64_t>(batch) * kImagePixels * channels;
  if (count <= 0) return cudaSuccess;
  ImagesGlobal<__half><<<Blocks(count), kThreads, 0, stream>>>(pixels, count, channels, mean, std,
                                                               1.0f, static_cast<__half*>(out));
  return cudaGetLastError();
}

cudaError_t ImagesToInt8Nhwc(const float* pixels, int batch, int channels, float mean, float std,
                             float scale, int8_t* out, cudaStream_t stream) {
  const int64_t count = static_cast<int64_t>(batch) * kImagePixels * channels;
  if (count <= 0) return cudaSuccess;
  ImagesGlobal<int8_t><<<Blocks(count), kThreads, 0, stream>>>(pixels, count, channels, mean, std,
                                                               1.0f / scale, out);
  return cudaGetLastError();
}

cudaError_t AveragePoolHalfNhwc(const void* in, int batch, int pixels, int channels, void* out,
                                cudaStream_t stream) {
  const int64_t count = static_cast<int64_t>(batch) * channels;
  if (count <= 0) return cudaSuccess;
  PoolGlobal<__half><<<Blocks(count), kThreads, 0, stream>>>(
      static_cast<const __half*>(in), batch, pixels, channels, static_cast<__half*>(out));
  return cudaGetLastError();
}

cudaError_t AveragePoolInt8Nhwc(const int8_t* in, int batch, int pixels, int channels, int8_t* out,
                                cudaStream_t stream) {
  const int64_t count = static_cast<int64_t>(batch) * channels;
  if (count <= 0) return cudaSuccess;
  PoolGlobal<int8_t><<<Blocks(count), kThreads, 0, stream>>>(in, batch, pixels, channels, out);
  return cudaGetLastError();
}

}  // namespace ternserve::bench
