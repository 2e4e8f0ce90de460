// Ternary and LibTorch engines. See torch_engine_factory.h.
#include "server/torch_engine_factory.h"

#include "models/torch_engine.h"

namespace ternserve {
namespace {

class TernaryAndTorchFactory final : public EngineFactory {
 public:
  // Torch here; ternary and cuda as in ternserve (cuda only in a CUDA build).
  absl::Status Supports(EngineKind kind) const override {
    return kind == EngineKind::kTorch ? absl::OkStatus() : TernaryEngineFactory().Supports(kind);
  }
  absl::StatusOr<std::unique_ptr<Engine>> Create(const Bundle& bundle,
                                                 const EngineSpec& spec) const override {
    if (spec.kind != EngineKind::kTorch) return TernaryEngineFactory().Create(bundle, spec);
    TorchEngineOptions options;
    options.threads = spec.threads;
    return CreateTorchEngine(bundle, options);
  }
};

}  // namespace

const EngineFactory& TernaryAndTorchEngineFactory() {
  static const TernaryAndTorchFactory* const factory = new TernaryAndTorchFactory();
  return *factory;
}

}  // namespace ternserve
