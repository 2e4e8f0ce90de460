// The ternary (and, with TERNSERVE_HAVE_CUDA, CUDA) engine factory. See engine_factory.h.
#include "server/engine_factory.h"

#include "absl/strings/str_cat.h"
#include "models/ternary_engine.h"
#if TERNSERVE_HAVE_CUDA
#include "models/cuda_engine.h"
#endif

namespace ternserve {
namespace {

class TernaryOnlyFactory final : public EngineFactory {
 public:
  absl::Status Supports(EngineKind kind) const override {
    if (kind == EngineKind::kTernary) return absl::OkStatus();
    if (kind == EngineKind::kCuda) {
#if TERNSERVE_HAVE_CUDA
      return absl::OkStatus();
#else
      return absl::FailedPreconditionError(
          "--engine=cuda: this binary was built without CUDA (rebuild with make build-cuda / "
          "-DTERNSERVE_CUDA=ON)");
#endif
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "--engine=", EngineKindName(kind),
        ": ternserve is built without LibTorch; ternserve-torch (the same server and flags) "
        "serves the LibTorch reference engine"));
  }
  absl::StatusOr<std::unique_ptr<Engine>> Create(const Bundle& bundle,
                                                 const EngineSpec& spec) const override {
    if (absl::Status supported = Supports(spec.kind); !supported.ok()) return supported;
#if TERNSERVE_HAVE_CUDA
    if (spec.kind == EngineKind::kCuda) {
      // Device 0; a server's workers get one engine, hence one CUDA stream, each.
      absl::StatusOr<std::unique_ptr<CudaEngine>> engine = CudaEngine::Create(bundle);
      if (!engine.ok()) return engine.status();
      return std::unique_ptr<Engine>(*std::move(engine));
    }
#endif
    TernaryEngineOptions options;
    options.threads = spec.threads;
    options.isa = spec.isa;
    absl::StatusOr<std::unique_ptr<TernaryEngine>> engine = TernaryEngine::Create(bundle, options);
    if (!engine.ok()) return engine.status();
    return std::unique_ptr<Engine>(*std::move(engine));
  }
};

}  // namespace

absl::StatusOr<EngineKind> ParseEngineKind(absl::string_view name) {
  if (name == "ternary") return EngineKind::kTernary;
  if (name == "torch") return EngineKind::kTorch;
  if (name == "cuda") return EngineKind::kCuda;
  return absl::InvalidArgumentError(
      absl::StrCat("engine '", name, "' is unknown; valid engines: ternary, torch, cuda"));
}

const char* EngineKindName(EngineKind kind) {
  switch (kind) {
    case EngineKind::kTernary:
      return "ternary";
    case EngineKind::kTorch:
      return "torch";
    case EngineKind::kCuda:
      return "cuda";
  }
  return "?";
}

const EngineFactory& TernaryEngineFactory() {
  static const TernaryOnlyFactory* const factory = new TernaryOnlyFactory();
  return *factory;
}

}  // namespace ternserve
