// The CUDA ternary kernels (ternary_cuda.h): thin __global__ wrappers over the per-thread bodies
// of ternary_cuda_body.h, and their launches. Built with --fmad=false, though the bodies' float
// ops are explicit __fmul_rn / __fadd_rn intrinsics that no flag contracts.
#include <cstdint>
#include <limits>

#include "models/kernels/cuda/ternary_cuda.h"
#include "models/kernels/cuda/ternary_cuda_body.h"

namespace ternserve::kernels::cuda {
namespace {

using G = ConvLaunchGeometry;

template <int kKernel>
__global__ void __launch_bounds__(G::kThreadsPerBlock)
    TernaryConvGlobal(const __grid_constant__ ConvKernelParams params) {
  TernaryConvThread<kKernel>(params, blockIdx.x, static_cast<int>(threadIdx.x));
}

__global__ void __launch_bounds__(kElementwiseThreadsPerBlock)
    QuantizeStemInputGlobal(const float* pixels, int64_t count, float mean, float std,
                            StemQuantization q, uint8_t* out) {
  QuantizeStemInputThread(pixels, count, mean, std, q, out, blockIdx.x,
                          static_cast<int>(threadIdx.x));
}

__global__ void __launch_bounds__(kElementwiseThreadsPerBlock)
    AveragePoolU8Global(const uint8_t* h, int batch, int pixels, int channels, float to_pool,
                        uint8_t* out) {
  AveragePoolU8Thread(h, batch, pixels, channels, to_pool, out, blockIdx.x,
                      static_cast<int>(threadIdx.x));
}

bool Aligned(const void* p, uintptr_t alignment) {
  return reinterpret_cast<uintptr_t>(p) % alignment == 0;
}

// A 1-D grid of `blocks`, or false if it exceeds gridDim.x's limit.
bool FitsGrid(int64_t blocks) { return blocks <= std::numeric_limits<int32_t>::max(); }

}  // namespace

cudaError_t LaunchTernaryConv(const ConvShape& shape, const ConvInput& input,
                              const TernaryConvWeights& weights, const ConvEpilogue& epilogue,
                              cudaStream_t stream) {
  const bool one_output = (epilogue.out_u8 != nullptr) != (epilogue.out_f32 != nullptr);
  if ((weights.kernel != 1 && weights.kernel != 3) || (shape.stride != 1 && shape.stride != 2) ||
      weights.out_channels <= 0 || weights.in_channels <= 0 || weights.blocks == nullptr ||
      input.data == nullptr || input.zero_point < 0 || input.zero_point > 255 || !one_output ||
      epilogue.multiplier == nullptr || epilogue.bias == nullptr ||
      (epilogue.residual_u8 != nullptr && epilogue.residual_f32 != nullptr) ||
      !Aligned(weights.blocks, alignof(WeightBlock)) || !Aligned(input.data, 4) ||
      !Aligned(epilogue.out_u8, 4) || !Aligned(epilogue.multiplier, alignof(float)) ||
      !Aligned(epilogue.bias, alignof(float)) || !Aligned(epilogue.out_f32, alignof(float)) ||
      !Aligned(epilogue.residual_f32, alignof(float))) {
    return cudaErrorInvalidValue;
  }
  const ConvKernelParams params = MakeConvKernelParams(shape, input, weights, epilogue);
  if (params.geometry.threads == 0) return cudaSuccess;
  if (!FitsGrid(params.geometry.blocks)) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(params.geometry.blocks));
  if (weights.kernel == 3) {
    TernaryConvGlobal<3><<<grid, G::kThreadsPerBlock, 0, stream>>>(params);
  } else {
    TernaryConvGlobal<1><<<grid, G::kThreadsPerBlock, 0, stream>>>(params);
  }
  return cudaGetLastError();
}

cudaError_t LaunchQuantizeStemInput(const float* pixels, int64_t count, float mean, float std,
                                    StemQuantization q, uint8_t* out, cudaStream_t stream) {
  if (count < 0 || (count > 0 && (pixels == nullptr || out == nullptr)) || !Aligned(out, 4) ||
      !Aligned(pixels, alignof(float))) {
    return cudaErrorInvalidValue;
  }
  if (count == 0) return cudaSuccess;
  const int64_t blocks = (count + kElementwiseThreadsPerBlock - 1) / kElementwiseThreadsPerBlock;
  if (!FitsGrid(blocks)) return cudaErrorInvalidValue;
  QuantizeStemInputGlobal<<<static_cast<unsigned>(blocks), kElementwiseThreadsPerBlock, 0,
                            stream>>>(pixels, count, mean, std, q, out);
  return cudaGetLastError();
}

cudaError_t LaunchAveragePoolU8(const uint8_t* h, int batch, int pixels, int channels,
                                float to_pool, uint8_t* out, cudaStream_t stream) {
  if (batch < 0 || pixels < 0 || channels < 0 ||
      (batch > 0 && channels > 0 && (out == nullptr || (pixels > 0 && h == nullptr)))) {
    return cudaErrorInvalidValue;
  }
  const int64_t elements = static_cast<int64_t>(batch) * PaddedChannels(channels);
  if (elements == 0) return cudaSuccess;
  const int64_t blocks = (elements + kElementwiseThreadsPerBlock - 1) / kElementwiseThreadsPerBlock;
  if (!FitsGrid(blocks)) return cudaErrorInvalidValue;
  AveragePoolU8Global<<<static_cast<unsigned>(blocks), kElementwiseThreadsPerBlock, 0, stream>>>(
      h, batch, pixels, channels, to_pool, out);
  return cudaGetLastError();
}

bool CudaDevicePresent(std::string* why) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    cudaGetLastError();  // clear it, so that it does not surface at the caller's next launch
    if (why != nullptr) {
      *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(error) + ": " +
             cudaGetErrorString(error);
    }
    return false;
  }
  if (count <= 0) {
    if (why != nullptr) *why = "no CUDA device found (cudaGetDeviceCount returned 0)";
    return false;
  }
  return true;
}

}  // namespace ternserve::kernels::cuda
