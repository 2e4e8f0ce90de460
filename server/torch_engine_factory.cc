// Ternary and LibTorch engines. See torch_engine_factory.h.
#include "server/torch_engine_factory.h"

#include "models/torch_engine.h"

namespace ternserve {
namespace {

class TernaryAndTorchFactory final : public EngineFactory {
 public:
  absl::Status Supports(EngineKind /*kind*/) const override { return absl::OkStatus(); }
  absl::StatusOr<std::unique_ptr<Engine>> Create(const Bundle& bundle,
                                                 const EngineSpec& spec) const override {
    if (spec.kind == EngineKind::kTernary) return TernaryEngineFactory().Create(bundle, spec);
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
