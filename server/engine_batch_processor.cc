// One engine and one input buffer per worker. See engine_batch_processor.h.
#include "server/engine_batch_processor.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "models/arch.h"
#include "server/classify_task.h"

namespace ternserve {

EngineBatchProcessor::EngineBatchProcessor(std::vector<std::unique_ptr<Engine>> engines,
                                           int num_classes)
    : EngineBatchProcessor(std::move(engines), nullptr, num_classes) {}

EngineBatchProcessor::EngineBatchProcessor(std::vector<std::unique_ptr<Engine>> engines,
                                           std::shared_ptr<const BundleMetadata> model)
    : EngineBatchProcessor(std::move(engines), model, static_cast<int>(model->labels.size())) {}

EngineBatchProcessor::EngineBatchProcessor(std::vector<std::unique_ptr<Engine>> engines,
                                           std::shared_ptr<const BundleMetadata> model,
                                           int num_classes)
    : model_(std::move(model)), num_classes_(num_classes) {
  workers_.reserve(engines.size());
  for (std::unique_ptr<Engine>& engine : engines) workers_.push_back({std::move(engine), {}});
}

absl::Status EngineBatchProcessor::ProcessBatch(int worker, int subnet_id,
                                                absl::Span<Task* const> batch) {
  if (worker < 0 || worker >= workers()) {
    return absl::InternalError(
        absl::StrCat("worker ", worker, " has no engine (", workers(), " engines)"));
  }
  Worker& w = workers_[static_cast<size_t>(worker)];
  const int size = static_cast<int>(batch.size());
  const size_t floats = static_cast<size_t>(size) * kImagePixels;
  if (w.input.size() < floats) w.input.resize(floats);
  for (int i = 0; i < size; ++i) {
    const absl::Span<const float> pixels = static_cast<const ClassifyTask*>(batch[i])->pixels();
    if (pixels.size() != static_cast<size_t>(kImagePixels)) {
      return absl::InternalError(absl::StrCat("task ", i, " of the batch has ", pixels.size(),
                                              " pixels, expected ", kImagePixels));
    }
    std::copy(pixels.begin(), pixels.end(),
              w.input.begin() + static_cast<std::ptrdiff_t>(i) * kImagePixels);
  }
  absl::StatusOr<LogitsView> logits =
      w.engine->Run(subnet_id, absl::MakeConstSpan(w.input.data(), floats), size);
  if (!logits.ok()) return logits.status();
  if (logits->batch != size || logits->num_classes != num_classes_) {
    return absl::InternalError(absl::StrCat("engine ", w.engine->name(), " returned ",
                                            logits->batch, " x ", logits->num_classes,
                                            " logits for a batch of ", size, " x ", num_classes_));
  }
  for (int i = 0; i < size; ++i) {
    static_cast<ClassifyTask*>(batch[i])->SetLogits(logits->row(i), model_);
  }
  return absl::OkStatus();
}

}  // namespace ternserve
