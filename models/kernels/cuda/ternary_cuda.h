// Launches of the CUDA ternary kernels: one launch per layer, asynchronous on `stream`.
//
// The kernels compute exactly what the CPU kernels do (conv_params.h's contract, bit for bit):
// the conv is TernaryConvScalar, the stem quantization conv_params.cc's QuantizeStemInput, the
// pool TernaryEngine's global average pool. Their per-thread bodies live in ternary_cuda_body.h,
// where a CPU emulation tests them without a GPU; tests/models/kernels/cuda_kernels_test.cc runs
// these launches on a device.
//
// Weights: the device reads the same WeightBlock array as the CPU (2 bits a weight; no GPU-side
// repack) and expands each block's nibbles to int8x4 words in registers for dp4a.
//
// Pointers. Every pointer inside the argument structs is a DEVICE pointer; the structs themselves
// are passed by value (kernel parameters), so they need not outlive the call. The u8 activation
// tensors (conv input and output, the stem's output) are read and written as 4-byte words and must
// be 4-byte aligned, weight blocks 16-byte aligned (one 16-byte load each), floats naturally
// aligned; cudaMalloc's pointers are, and so are whole-block or whole-element offsets into them. A
// misaligned pointer gives cudaErrorInvalidValue and no launch.
//
// Errors: each Launch* returns cudaErrorInvalidValue for arguments the kernel cannot run (and then
// launches nothing), else cudaGetLastError() after the launch (configuration errors; errors of the
// kernel's execution surface at the next synchronizing call). An empty problem launches nothing
// and returns cudaSuccess.
//
// The Launch* functions neither allocate nor synchronize (one kernel launch each, no host-device
// copy), so they may be captured into a CUDA graph.
//
// Thread-safety: the functions keep no state; concurrent launches on any streams are safe, and
// kernels write only their outputs. Only compiled when TERNSERVE_CUDA is on.
#ifndef TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_H_
#define TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_H_

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "models/kernels/conv_params.h"
#include "models/kernels/ternary_blocks.h"

namespace ternserve::kernels::cuda {

// The conv (or linear, as a 1x1 conv over a 1x1 image) of conv_kernels.h's TernaryConvFn, over
// shape's row range (normally every row: row_end -1). weights.blocks points to a device copy of
// the same WeightBlock array the CPU uses (uploaded by the caller with cudaMemcpy from a
// PackedTernaryConv's blocks, keeping the TernaryConvWeights fields; a sliced view = same fields,
// blocks rebased onto the device copy). input.zero_point must be a u8 value (0 .. 255).
cudaError_t LaunchTernaryConv(const ConvShape& shape, const ConvInput& input,
                              const TernaryConvWeights& weights, const ConvEpilogue& epilogue,
                              cudaStream_t stream);

// conv_params.h's QuantizeStemInput: out[count * kChannelAlign], padding channels zeroed.
cudaError_t LaunchQuantizeStemInput(const float* pixels, int64_t count, float mean, float std,
                                    StemQuantization q, uint8_t* out, cudaStream_t stream);

// h: [batch][pixels][PaddedChannels(channels)] u8; out: [batch][PaddedChannels(channels)] u8,
// padding channels zeroed; to_pool as in ternary_engine.cc
// (last_scale / (pixels * pool_scale)).
cudaError_t LaunchAveragePoolU8(const uint8_t* h, int batch, int pixels, int channels,
                                float to_pool, uint8_t* out, cudaStream_t stream);

// True if a device is present (cudaGetDeviceCount > 0), else false with *why set (the CUDA
// runtime's error string, e.g. no driver, or "no CUDA device found"). `why` may be null.
bool CudaDevicePresent(std::string* why);

}  // namespace ternserve::kernels::cuda

#endif  // TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_H_
