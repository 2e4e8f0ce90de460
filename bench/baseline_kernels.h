// The few kernels of ternserve-bench's GPU baselines (CUDA builds only; baseline_kernels.cu): the
// trivial kernel of the bare launch chain (gpu_timing.h), and the glue of the plain cuDNN network
// (cudnn_baseline.h) that cuDNN has no call for: random weights, the images to NHWC fp16 / int8,
// the global average pool. Plain C++ declarations, so g++-compiled files can call them.
//
// Every function launches one kernel on `stream` and returns cudaGetLastError() (launch errors;
// execution errors surface at the next synchronization). Pointers are device pointers; fp16 data
// is passed as void* (__half), so this header needs no cuda_fp16.h. Stateless and thread-safe.
#ifndef TERNSERVE_BENCH_BASELINE_KERNELS_H_
#define TERNSERVE_BENCH_BASELINE_KERNELS_H_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ternserve::bench {

// One thread writes `value` to *flag: the least work a launch can carry.
cudaError_t LaunchTrivialKernel(int* flag, int value, cudaStream_t stream);

// Fills `count` elements with a fixed hash of (seed, index): uniform in [-scale, scale] for fp16
// and fp32, in [-max_abs, max_abs] for int8. Only timing uses these values.
cudaError_t FillRandomHalf(void* data, int64_t count, float scale, uint32_t seed,
                           cudaStream_t stream);
cudaError_t FillRandomFloat(float* data, int64_t count, float scale, uint32_t seed,
                            cudaStream_t stream);
cudaError_t FillRandomInt8(int8_t* data, int64_t count, int max_abs, uint32_t seed,
                           cudaStream_t stream);

// pixels: [batch][28 * 28] fp32 -> out: NHWC [batch][28][28][channels], channel 0 the normalized
// pixel (p - mean) / std, the padding channels 0. The int8 variant stores round(x / scale),
// saturated.
cudaError_t ImagesToHalfNhwc(const float* pixels, int batch, int channels, float mean, float std,
                             void* out, cudaStream_t stream);
cudaError_t ImagesToInt8Nhwc(const float* pixels, int batch, int channels, float mean, float std,
                             float scale, int8_t* out, cudaStream_t stream);

// Global average pool, NHWC [batch][pixels][channels] -> [batch][channels] (= NHWC with 1x1
// spatial): the mean in fp32, stored as fp16, or rounded and saturated to int8.
cudaError_t AveragePoolHalfNhwc(const void* in, int batch, int pixels, int channels, void* out,
                                cudaStream_t stream);
cudaError_t AveragePoolInt8Nhwc(const int8_t* in, int batch, int pixels, int channels, int8_t* out,
                                cudaStream_t stream);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_BASELINE_KERNELS_H_
