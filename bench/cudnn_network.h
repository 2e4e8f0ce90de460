// The plain cuDNN network behind CudnnBaseline (cudnn_baseline.h describes what it computes):
// its descriptors, buffers and convs, and how they are built and run. Compiled only when the
// build found cuDNN (TERNSERVE_HAVE_CUDNN); bench-internal, used by cudnn_baseline.cc alone.
//
// Not thread-safe: a CudnnContext and the Networks built on it belong to one thread.
#ifndef TERNSERVE_BENCH_CUDNN_NETWORK_H_
#define TERNSERVE_BENCH_CUDNN_NETWORK_H_

#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/cudnn_baseline.h"
#include "models/arch.h"

namespace ternserve::bench {

inline constexpr int kClassesPadded = 16;  // the classifier's outputs, padded for NHWC convs

// OK for CUDNN_STATUS_SUCCESS, else "<call> failed: <cudnnGetErrorString> (<last error
// detail>)": UNIMPLEMENTED for the NOT_SUPPORTED family (30xx), INTERNAL otherwise.
absl::Status CudnnStatus(const std::string& call, cudnnStatus_t status);

// A cuDNN descriptor, destroyed with its owner.
template <typename T, cudnnStatus_t (*kCreate)(T*), cudnnStatus_t (*kDestroy)(T)>
class Descriptor {
 public:
  Descriptor() = default;
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (d_ != nullptr) kDestroy(d_);
  }
  absl::Status Create() { return CudnnStatus("cudnnCreate*Descriptor", kCreate(&d_)); }
  T get() const { return d_; }

 private:
  T d_ = nullptr;
};
using TensorDesc =
    Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc =
    Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc = Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                            cudnnDestroyConvolutionDescriptor>;
using ActivationDesc = Descriptor<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                                  cudnnDestroyActivationDescriptor>;

struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
struct HostFree {
  void operator()(void* p) const { cudaFreeHost(p); }
};
using DeviceBuffer = std::unique_ptr<void, DeviceFree>;
using PinnedBuffer = std::unique_ptr<void, HostFree>;

// The handle, stream, ReLU descriptor and workspace every network of one CudnnBaseline shares,
// and the algorithm chosen for each conv shape so far.
struct CudnnContext {
  cudnnHandle_t handle = nullptr;  // owned; bound to `stream`
  cudaStream_t stream = nullptr;   // owned
  ActivationDesc relu;
  DeviceBuffer workspace;
  size_t workspace_bytes = 0;
  std::map<std::string, cudnnConvolutionFwdAlgoPerf_t> algos;  // by conv shape

  CudnnContext() = default;
  CudnnContext(const CudnnContext&) = delete;
  CudnnContext& operator=(const CudnnContext&) = delete;
  ~CudnnContext();
  // Grows the shared workspace to at least `bytes` (dropping its contents).
  absl::Status EnsureWorkspace(size_t bytes);
};

// One cuDNN conv of the network. kFused: conv + bias (+ z) + ReLU in one call; kPlain: the conv
// alone (the shortcut, whose bias is folded into conv2's); kPlainThenBias: the conv, then
// cudnnAddTensor (the classifier, no ReLU).
struct ConvOp {
  enum Kind { kFused, kPlain, kPlainThenBias } kind = kFused;
  std::string name;  // the layer's ("stem", "s1.b0.conv2", ...)
  TensorDesc x, y, bias;
  FilterDesc w;
  ConvDesc conv;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  size_t workspace_bytes = 0;
  float alpha1 = 1.0f;  // the int32 accumulator's scale to the int8 output; 1 in fp16
  DeviceBuffer weights, bias_data;
  const void* in = nullptr;
  const void* z = nullptr;  // residual added before the ReLU (kFused); null: none
  void* out = nullptr;
};

// One sub-net at one batch size in one precision: its buffers and convs.
struct Network {
  CudnnPrecision precision = CudnnPrecision::kFp16;
  int batch = 0;
  int in_channels = 0;  // the padded image channels: 8 (fp16) or 4 (int8)
  int pool_pixels = 0;
  int pool_channels = 0;
  size_t logit_bytes = 0;
  DeviceBuffer images, input, act[4], pooled, logits;
  PinnedBuffer host_images, host_logits;      // random pixels in; logits out
  std::vector<std::unique_ptr<ConvOp>> body;  // stem, then every block's convs in order
  std::unique_ptr<ConvOp> fc;
};

// Builds `subnet`'s network for net->precision and net->batch (set by the caller): buffers, random
// weights (filled on ctx.stream), descriptors and each conv's algorithm.
absl::Status BuildNetwork(CudnnContext& ctx, const ArchConfig& arch, const SubnetConfig& subnet,
                          Network* net);

// Enqueues one conv on ctx.stream (the call's status: cuDNN checks arguments synchronously).
absl::Status RunConv(CudnnContext& ctx, const ConvOp& op);

// Switches a fused conv to IMPLICIT_PRECOMP_GEMM (the algorithm cuDNN documents for every fused
// config) and sizes the workspace for it. False if it already used it (nothing left to try).
absl::StatusOr<bool> FallBackToImplicitGemm(CudnnContext& ctx, ConvOp& op);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_CUDNN_NETWORK_H_
