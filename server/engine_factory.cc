// The ternary engine factory. See engine_factory.h.
#include "server/engine_factory.h"

#include "absl/strings/str_cat.h"
#include "models/ternary_engine.h"

namespace ternserve {
namespace {

class TernaryOnlyFactory final : public EngineFactory {
 public:
  absl::Status Supports(EngineKind kind) const override {
    if (kind == EngineKind::kTernary) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "--engine=", EngineKindName(kind),
        ": ternserve is built without LibTorch; ternserve-torch (the same server and flags) "
        "serves the LibTorch reference engine"));
  }
  absl::StatusOr<std::unique_ptr<Engine>> Create(const Bundle& bundle,
                                                 const EngineSpec& spec) const override {
    if (absl::Status supported = Supports(spec.kind); !supported.ok()) return supported;
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
  return absl::InvalidArgumentError(
      absl::StrCat("engine '", name, "' is unknown; valid engines: ternary, torch"));
}

const char* EngineKindName(EngineKind kind) {
  return kind == EngineKind::kTernary ? "ternary" : "torch";
}

const EngineFactory& TernaryEngineFactory() {
  static const TernaryOnlyFactory* const factory = new TernaryOnlyFactory();
  return *factory;
}

}  // namespace ternserve
