#include "bench/ternary_e2e.h"

#include <utility>

#include "models/ternary_engine.h"

namespace ternserve::bench {

namespace {

class TernarySubnetRunner final : public SubnetRunner {
 public:
  TernarySubnetRunner(std::shared_ptr<TernaryEngine> engine, int subnet_id)
      : engine_(std::move(engine)), subnet_id_(subnet_id) {}

  absl::StatusOr<std::vector<float>> Run(absl::Span<const float> images, int batch) override {
    absl::StatusOr<LogitsView> logits = engine_->Run(subnet_id_, images, batch);
    if (!logits.ok()) return logits.status();
    return logits->ToVector();
  }
  // The shared full-width 2-bit packs plus this sub-net's own epilogue: what serving it needs.
  size_t weight_bytes() const override { return engine_->resident_weight_bytes(subnet_id_); }

 private:
  const std::shared_ptr<TernaryEngine> engine_;
  const int subnet_id_;
};

}  // namespace

absl::StatusOr<TernaryRunners> CreateTernaryRunners(const Bundle& bundle,
                                                    const std::vector<int>& subnet_ids,
                                                    int threads) {
  TernaryEngineOptions options;
  options.threads = threads;
  absl::StatusOr<std::unique_ptr<TernaryEngine>> engine = TernaryEngine::Create(bundle, options);
  if (!engine.ok()) return engine.status();
  std::shared_ptr<TernaryEngine> shared = std::move(*engine);
  TernaryRunners result;
  result.isa = shared->isa();
  for (int id : subnet_ids) {
    result.runners.push_back(std::make_unique<TernarySubnetRunner>(shared, id));
  }
  return result;
}

}  // namespace ternserve::bench
