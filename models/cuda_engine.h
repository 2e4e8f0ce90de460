// CudaEngine: runs a bundle's sub-nets on an NVIDIA GPU with the ternary CUDA kernels
// (models/kernels/cuda/), over the same TernaryPlan as TernaryEngine (models/ternary_plan.h): the
// same 2-bit weight blocks, folded epilogues and activation scales, so its logits are meant to be
// bit-identical to TernaryEngine's. Built only with -DTERNSERVE_CUDA=ON (make build-cuda); see
// docs/cuda.md, which also says what of this has run on a GPU.
//
// Device memory. At Create, every layer's packed WeightBlocks (full width, shared by all sub-nets)
// and every sub-net's multipliers and biases are copied to the device once, into one allocation.
// Activation buffers (device) and the image / logits staging buffers (pinned host) are sized for
// the largest batch seen so far and grow on demand.
//
// One batch (Run): the images are copied into the pinned staging buffer, then on the engine's own
// stream: one H2D copy, the stem input quantization, every conv of the sub-net launched back to
// back (no host synchronization between layers), the average pool, the classifier to fp32 logits,
// one D2H copy into pinned host memory, and one stream synchronization. With use_graphs, that
// sequence is captured into a CUDA graph the first time a (sub-net, batch) runs and replayed
// afterwards (one launch per batch instead of one per layer).
//
// Not thread-safe, like every Engine: one batch at a time. Each engine owns its stream, device
// buffers and graphs, so a server's workers (one engine each) map to independent CUDA streams on
// the same device. The bundle must outlive the engine.
#ifndef TERNSERVE_MODELS_CUDA_ENGINE_H_
#define TERNSERVE_MODELS_CUDA_ENGINE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/bundle.h"
#include "models/engine.h"

namespace ternserve {

struct CudaEngineOptions {
  // The CUDA device ordinal (cudaGetDeviceCount's numbering). Default 0.
  int device = 0;
  // Capture each (sub-net, batch)'s launch sequence into a CUDA graph on first use and replay it:
  // cuts the per-batch host launch cost from one launch per layer (about 20) to one. Costs one
  // capture and instantiation per new (sub-net, batch) pair, and the graphs' memory. Default on.
  bool use_graphs = true;
};

class CudaEngine : public Engine {
 public:
  // FAILED_PRECONDITION when no CUDA device is present (the message says why, from the CUDA
  // runtime), the ordinal does not exist, or the bundle is not ternary or not calibrated;
  // INTERNAL naming the CUDA call and its error string when a CUDA call fails.
  static absl::StatusOr<std::unique_ptr<CudaEngine>> Create(const Bundle& bundle,
                                                            const CudaEngineOptions& options = {});
  ~CudaEngine() override;

  // INVALID_ARGUMENT for an unknown sub-net or a size mismatch; INTERNAL naming the CUDA call for
  // any CUDA error (launch or execution).
  absl::StatusOr<LogitsView> Run(int subnet_id, absl::Span<const float> images, int batch) override;
  std::string name() const override { return "cuda"; }
  // The device's compute capability, e.g. "sm_90".
  std::string isa() const override;

  // The device's name (cudaDeviceProp::name), e.g. "NVIDIA H100 80GB HBM3".
  std::string device_name() const;
  // Device bytes of the uploaded weights: every layer's blocks at full width and every sub-net's
  // epilogue (alignment padding included). Excludes activation buffers.
  size_t device_weight_bytes() const;
  // Graphs captured so far (0 without use_graphs).
  int graphs() const;
  // Empty while graphs are in use (or were not asked for); else why capture failed and the engine
  // went back to launching each kernel (it keeps working, one launch per layer).
  std::string graphs_off_reason() const;

 private:
  struct Impl;
  explicit CudaEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_CUDA_ENGINE_H_
