// EngineBatchProcessor: the dispatcher's BatchProcessor for ClassifyTasks, backed by one Engine
// per worker (an Engine runs one batch at a time, so worker w always uses engines[w]).
//
// For each batch it gathers the tasks' pixels into worker w's input buffer (reused across
// batches: the one copy of the pixels between the wire and the engine), runs the engine, and
// copies each task's row of logits into the task (the one copy of the logits).
//
// Owns the engines. Thread-safe as the dispatcher uses it: concurrent calls come from different
// workers, and each touches only its own engine and buffer.
#ifndef TERNSERVE_SERVER_ENGINE_BATCH_PROCESSOR_H_
#define TERNSERVE_SERVER_ENGINE_BATCH_PROCESSOR_H_

#include <memory>
#include <string>
#include <vector>

#include "models/bundle.h"
#include "models/engine.h"
#include "scheduler/dispatcher.h"

namespace ternserve {

class EngineBatchProcessor final : public BatchProcessor {
 public:
  // One engine per dispatcher worker; must be non-empty. `num_classes`: logits per image the
  // engines must return.
  EngineBatchProcessor(std::vector<std::unique_ptr<Engine>> engines, int num_classes);
  // The same for engines made from the bundle that `model` belongs to (num_classes is its label
  // count): each task it runs is told `model` (ImageResult::model), and holding it keeps the
  // bundle alive until the engines are gone.
  EngineBatchProcessor(std::vector<std::unique_ptr<Engine>> engines,
                       std::shared_ptr<const BundleMetadata> model);

  // Every task must be a ClassifyTask (server/classify_task.h).
  absl::Status ProcessBatch(int worker, int subnet_id, absl::Span<Task* const> batch) override;

  int workers() const { return static_cast<int>(workers_.size()); }
  std::string engine_name() const { return workers_.front().engine->name(); }

 private:
  EngineBatchProcessor(std::vector<std::unique_ptr<Engine>> engines,
                       std::shared_ptr<const BundleMetadata> model, int num_classes);

  struct Worker {
    std::unique_ptr<Engine> engine;
    std::vector<float> input;  // batch x image pixels, grown to the largest batch seen
  };

  // Declared before the engines, so destroyed after them: they may read the bundle's memory.
  const std::shared_ptr<const BundleMetadata> model_;
  const int num_classes_;
  std::vector<Worker> workers_;  // worker w's entry is used by worker w only
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_ENGINE_BATCH_PROCESSOR_H_
