// The cuDNN baselines of issue 20's point 5 (CUDA builds only): a plain cuDNN network with a
// sub-net's architecture, in fp16 (tensor cores) or int8, timed on the GPU, so that
// ternserve-bench --engine=cuda can put CudaEngine next to what cuDNN does with the same convs.
//
// The network (random weights; only its timing is used): the images copied in (pinned host to
// device), converted to NHWC (channel 0 the normalized pixel, padded with zero channels to 8 for
// fp16, 4 for int8: cuDNN's NHWC tensor-core and int8 convs want channels in those multiples),
// the 3x3 stem, every residual block (conv1 as cudnnConvolutionBiasActivationForward with ReLU;
// the 1x1 stride-2 shortcut, where the block has one, as cudnnConvolutionForward, its bias folded
// into conv2's; conv2 fused with bias, the residual as the z input and ReLU), the global average
// pool (a kernel of ours), the classifier as a 1x1 conv with its outputs padded from 10 to 16 and
// its bias added by cudnnAddTensor, and the logits copied out (device to pinned host). So it does
// the same work CudaEngine enqueues for one batch, at the same channel counts and strides.
//
// fp16: NHWC half tensors and filters, fp32 accumulation (cuDNN's PSEUDO_HALF config),
// CUDNN_TENSOR_OP_MATH, half biases. int8: NHWC int8 tensors and filters, int32 accumulation,
// float biases and scales, int8 outputs except the classifier's fp32 logits (cuDNN's INT8 and
// INT8_EXT configs). Each conv shape's algorithm is the fastest
// cudnnFindConvolutionForwardAlgorithm measures (cached per shape), else the first
// cudnnGetConvolutionForwardAlgorithm_v7 offers; a fused call its algorithm refuses falls back to
// IMPLICIT_PRECOMP_GEMM (the one cuDNN documents for every fused config).
//
// Timing (gpu_timing.h's MedianEventMs): the whole sequence, plain calls and, where stream capture
// works, replayed as a CUDA graph (as CudaEngine does); the faster is reported. Every cuDNN or
// CUDA failure is a status naming the call, the layer and cudnnGetErrorString's text (with
// cudnnGetLastErrorString's detail); UNIMPLEMENTED when cuDNN says NOT_SUPPORTED (e.g. an int8
// shape), so the bench records why and goes on.
//
// Not thread-safe: one Time() at a time. Owns its cuDNN handle and stream on one device.
#ifndef TERNSERVE_BENCH_CUDNN_BASELINE_H_
#define TERNSERVE_BENCH_CUDNN_BASELINE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/arch.h"

namespace ternserve::bench {

enum class CudnnPrecision { kFp16, kInt8 };

struct CudnnBaselineOptions {
  int device = 0;           // the CUDA device ordinal (CudaEngine's)
  int warmup = 10;          // untimed runs before each timing
  int runs = 50;            // timed runs; the median is reported
  float input_mean = 0.0f;  // the images' normalization (the bundle's)
  float input_std = 1.0f;
};

struct CudnnTiming {
  double ms = 0;             // the faster of plain_ms and graph_ms
  double plain_ms = 0;       // every call launched each run
  double graph_ms = 0;       // replayed as one CUDA graph; 0 if capture failed
  std::string launch;        // "graph" or "plain": which one `ms` is
  std::string graph_failed;  // why there is no graph_ms; empty otherwise
};

class CudnnBaseline {
 public:
  // UNIMPLEMENTED if this build has no cuDNN (bench/CMakeLists.txt did not find it); INTERNAL
  // naming the call if the device, stream or cuDNN handle cannot be set up.
  static absl::StatusOr<std::unique_ptr<CudnnBaseline>> Create(const CudnnBaselineOptions& options);
  ~CudnnBaseline();

  // Builds the network of `subnet` at `batch` (see above), runs it once, then times it.
  absl::StatusOr<CudnnTiming> Time(const ArchConfig& arch, const SubnetConfig& subnet, int batch,
                                   CudnnPrecision precision);

  // "cuDNN 9.19.0" (the library loaded at run time).
  std::string version() const;

 private:
  struct Impl;
  explicit CudnnBaseline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_CUDNN_BASELINE_H_
