// EngineBatchProcessor: the dispatcher's BatchProcessor backed by one Engine per worker (an Engine
// runs one batch at a time, so worker w always uses engines[w]).
//
// Owns the engines. Thread-safe as the dispatcher uses it: concurrent calls come from different
// workers.
#ifndef TERNSERVE_SERVER_ENGINE_BATCH_PROCESSOR_H_
#define TERNSERVE_SERVER_ENGINE_BATCH_PROCESSOR_H_

#include <memory>
#include <string>
#include <vector>

#include "models/engine.h"
#include "scheduler/dispatcher.h"

namespace ternserve {

class EngineBatchProcessor final : public BatchProcessor {
 public:
  // One engine per dispatcher worker; must be non-empty.
  explicit EngineBatchProcessor(std::vector<std::unique_ptr<Engine>> engines);

  absl::StatusOr<std::vector<float>> ProcessBatch(int worker, int subnet_id,
                                                  absl::Span<const float> images,
                                                  int batch) override;

  int workers() const { return static_cast<int>(engines_.size()); }
  std::string engine_name() const { return engines_.front()->name(); }

 private:
  // Constant after construction (each engine is used by its worker only).
  const std::vector<std::unique_ptr<Engine>> engines_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_ENGINE_BATCH_PROCESSOR_H_
