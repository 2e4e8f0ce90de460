// TernaryEngine: runs a bundle's sub-nets on the hand-written ternary kernels (models/kernels/).
// No LibTorch: this is the serving engine (docs/architecture.md "Engines").
//
// Data flow for one batch: pixels -> u8 (the stem's asymmetric input quantization) -> stem conv ->
// for each residual block: conv1 (+BN, ReLU, requantize to u8) -> conv2 (+BN, + residual, ReLU,
// requantize) where the residual is the block input (u8) or the 1x1 shortcut conv's fp32 output ->
// global average pool, requantized to u8 -> ternary linear -> fp32 logits. Every conv runs with
// its folded BN and the requantization fused in the kernel's epilogue: no intermediate fp32
// activation tensor except the (signed) shortcut output.
//
// The u8 activation scales come from the bundle: each sub-net records them (SubnetMeta::
// activation_scales), calibrated on training images at export. Weights are packed once per layer
// at the SuperNet's full width and shared by every sub-net (a sub-net's weights are a prefix of
// each layer's), so memory does not grow with the number of sub-nets. The packs, the folded
// epilogues and the per-sub-net layer lists are a TernaryPlan (models/ternary_plan.h), which
// CudaEngine runs too.
//
// Not thread-safe (one batch at a time, like every Engine); inside Run the work of each layer is
// split over the engine's own thread pool.
#ifndef TERNSERVE_MODELS_TERNARY_ENGINE_H_
#define TERNSERVE_MODELS_TERNARY_ENGINE_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "models/bundle.h"
#include "models/engine.h"
#include "models/kernels/cpu_features.h"

namespace ternserve {

struct TernaryEngineOptions {
  // Threads that run each layer (the calling thread is one of them). 0: every core.
  int threads = 0;
  // Kernel variant: "scalar", "avx2" or "avx512vnni"; empty picks the fastest the CPU supports.
  std::string isa;
  // The CPU the variant is chosen for: unset (the default) is this one (DetectCpuFeatures). Set
  // only to test the choice for another CPU.
  std::optional<kernels::CpuFeatures> cpu;
};

class TernaryEngine : public Engine {
 public:
  // INVALID_ARGUMENT for an unknown ISA name or a negative thread count; FAILED_PRECONDITION if
  // this CPU lacks the requested ISA, the bundle is not ternary, or a sub-net has no calibrated
  // activation scales. The bundle must outlive the engine.
  static absl::StatusOr<std::unique_ptr<TernaryEngine>> Create(
      const Bundle& bundle, const TernaryEngineOptions& options = {});
  ~TernaryEngine() override;

  absl::StatusOr<LogitsView> Run(int subnet_id, absl::Span<const float> images, int batch) override;
  std::string name() const override { return "ternary"; }

  // The kernel variant in use ("scalar", "avx2", "avx512vnni").
  std::string isa() const override;
  int threads() const;
  // Bytes of weights the engine keeps resident: packed 2-bit weights and per-channel weight scales
  // of every layer at full width (shared by all sub-nets), plus each sub-net's per-channel
  // epilogue (folded-BN multipliers and biases). Excludes per-batch activation buffers and the
  // kernels' transient per-thread expansion scratch.
  size_t resident_weight_bytes() const;
  // What serving only `subnet_id` would keep: the shared packs plus that sub-net's epilogue
  // (0 for an unknown id).
  size_t resident_weight_bytes(int subnet_id) const;

 private:
  struct Impl;
  explicit TernaryEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_TERNARY_ENGINE_H_
