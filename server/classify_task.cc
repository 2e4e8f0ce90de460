// ClassifyTask and ClassifyCall. See classify_task.h.
#include "server/classify_task.h"

#include <utility>

namespace ternserve {

ClassifyCall::ClassifyCall(int images, DoneCallback on_done, CancelFlag cancelled)
    : results_(static_cast<size_t>(images)),
      remaining_(images),
      on_done_(std::move(on_done)),
      cancelled_(std::move(cancelled)) {}

void ClassifyCall::Finish(int image, ImageResult result) {
  results_[static_cast<size_t>(image)] = std::move(result);
  // acq_rel: the last finisher sees every other image's slot.
  if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) on_done_(std::move(results_));
}

ClassifyTask::ClassifyTask(absl::Time arrival, absl::Time deadline, absl::Span<const float> pixels,
                           std::shared_ptr<ClassifyCall> call, int image, double min_accuracy)
    : Task(arrival, deadline, min_accuracy),
      pixels_(pixels),
      call_(std::move(call)),
      image_(image) {}

void ClassifyTask::Finish(const TaskOutcome& outcome) {
  ImageResult result;
  result.outcome = outcome;
  if (outcome.status.ok()) {
    result.logits = std::move(logits_);
    result.model = std::move(model_);
  }
  call_->Finish(image_, std::move(result));
}

}  // namespace ternserve
