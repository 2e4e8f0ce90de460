// The LibTorch side of the per-layer suite: one conv layer in fp32 (in the layout a careful user
// would pick) and in int8 on oneDNN, as the project's LibTorch baseline scripts time them.
//
// This header is LibTorch-free (the torch code is in torch_layers.cc), so only one translation unit
// of the per-layer suite pays LibTorch's compile time. Not thread-safe: a TorchConvLayer owns its
// tensors and runs one call at a time; LibTorch's own thread pool does the parallel work.
#ifndef TERNSERVE_BENCH_TORCH_LAYERS_H_
#define TERNSERVE_BENCH_TORCH_LAYERS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/kernels/conv_cases.h"

namespace ternserve::bench {

// How the fp32 conv is fed. We time every layout and report the fastest: on LibTorch 1.13 which is
// fastest depends on the shape and batch (anchor-bench's fp32_bench.py sees the same).
enum class Fp32Layout {
  kNchw,          // torch::conv2d on contiguous NCHW tensors (LibTorch routes it to oneDNN)
  kChannelsLast,  // torch::conv2d on channels_last input and weight: no NCHW<->NHWC reorders
  kMkldnn,        // opaque oneDNN tensors and pre-reordered weights (what optimize_for_inference
                  // makes of a conv): no per-call layout work at all
};
const char* Fp32LayoutName(Fp32Layout layout);
const std::vector<Fp32Layout>& AllFp32Layouts();

// Sets LibTorch's intra-op thread count (at::set_num_threads).
void SetTorchThreads(int threads);

// Selects the oneDNN quantized engine; FAILED_PRECONDITION, naming the engines there are, if this
// LibTorch build lacks it.
absl::Status UseOnednnQuantizedEngine();

class TorchConvLayer {
 public:
  // fp32 conv + bias + ReLU on random data (ReLU fused where the layout allows, as oneDNN does).
  static absl::StatusOr<std::unique_ptr<TorchConvLayer>> CreateFp32(const kernels::ConvCase& shape,
                                                                    int batch, Fp32Layout layout);
  // quantized::conv2d_relu on a quint8 channels_last input with per-channel qint8 weights prepacked
  // by quantized::conv2d_prepack (nnq.Conv2d does the same). Call UseOnednnQuantizedEngine first.
  static absl::StatusOr<std::unique_ptr<TorchConvLayer>> CreateInt8(const kernels::ConvCase& shape,
                                                                    int batch);
  ~TorchConvLayer();

  // One forward pass.
  void Run();

 private:
  struct Impl;
  explicit TorchConvLayer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_TORCH_LAYERS_H_
