// TorchEngine: runs a bundle's sub-nets in LibTorch fp32. It is the parity oracle in tests and the
// baseline in benchmarks. Each sub-net is materialized as a static network (sliced, dequantized
// weights; its own BN folded into conv bias), so no elastic logic runs per request.
//
// This header is LibTorch-free (pimpl): the serving path can hold a TorchEngine without LibTorch
// headers.
#ifndef TERNSERVE_MODELS_TORCH_ENGINE_H_
#define TERNSERVE_MODELS_TORCH_ENGINE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "models/bundle.h"
#include "models/engine.h"

namespace ternserve {

struct TorchEngineOptions {
  // LibTorch intra-op threads for this engine. 0 leaves LibTorch's global setting alone.
  int threads = 0;
};

// Builds every sub-net of `bundle` (which must outlive the engine).
absl::StatusOr<std::unique_ptr<Engine>> CreateTorchEngine(const Bundle& bundle,
                                                          const TorchEngineOptions& options = {});

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_TORCH_ENGINE_H_
