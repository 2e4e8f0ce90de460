// One engine per worker. See engine_batch_processor.h.
#include "server/engine_batch_processor.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ternserve {

EngineBatchProcessor::EngineBatchProcessor(std::vector<std::unique_ptr<Engine>> engines)
    : engines_(std::move(engines)) {}

absl::StatusOr<std::vector<float>> EngineBatchProcessor::ProcessBatch(
    int worker, int subnet_id, absl::Span<const float> images, int batch) {
  if (worker < 0 || worker >= workers()) {
    return absl::InternalError(
        absl::StrCat("worker ", worker, " has no engine (", workers(), " engines)"));
  }
  return engines_[static_cast<size_t>(worker)]->Run(subnet_id, images, batch);
}

}  // namespace ternserve
