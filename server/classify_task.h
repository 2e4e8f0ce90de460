// ClassifyTask and ClassifyCall: how a classification request crosses the scheduler.
//
// A ClassifyCall is one request of N images (our API sends one; the Open Inference Protocol may
// send [N,1,28,28]). Each image is one ClassifyTask, so the scheduler may batch the images of one
// request with others, or split them over batches; all N share the call, and the last task to
// finish hands every image's result, in image order, to the call's callback.
//
// Data path: a task borrows its image's pixels (from the wire message or a decoded image, kept
// alive by the call's owner until the callback runs); the worker's EngineBatchProcessor copies
// them once into its engine's input buffer and copies each image's logits once out of the engine
// (SetLogits).
//
// Thread-safety: a task is used by one thread at a time (Task's rule). ClassifyCall::Finish may be
// called concurrently for different images.
#ifndef TERNSERVE_SERVER_CLASSIFY_TASK_H_
#define TERNSERVE_SERVER_CLASSIFY_TASK_H_

#include <atomic>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "models/bundle.h"
#include "scheduler/task.h"

namespace ternserve {

// What one image of a call came to.
struct ImageResult {
  TaskOutcome outcome;
  std::vector<float> logits;  // the engine's logits when outcome.status is OK, else empty
  // The metadata of the bundle whose engine computed the logits (its labels and sub-nets name the
  // answer): after a reload, a batch that ran on the old bundle is answered from the old one's.
  // Null when the image did not run, or when its processor named no bundle.
  std::shared_ptr<const BundleMetadata> model;
};

// Set (once) by whoever learns that a call's client gave up: the RPC's reactor, on cancellation
// or an expired gRPC deadline. Shared by the reactor and the calls it submitted; a stream's calls
// share the stream's.
using CancelFlag = std::shared_ptr<const std::atomic<bool>>;

class ClassifyCall {
 public:
  using DoneCallback = absl::AnyInvocable<void(std::vector<ImageResult>)>;

  // `on_done` runs once, on the thread that finishes the last of `images` images. `cancelled`
  // may be null (the call is never cancelled).
  ClassifyCall(int images, DoneCallback on_done, CancelFlag cancelled = nullptr);

  ClassifyCall(const ClassifyCall&) = delete;
  ClassifyCall& operator=(const ClassifyCall&) = delete;

  int images() const { return static_cast<int>(results_.size()); }
  bool cancelled() const {
    return cancelled_ != nullptr && cancelled_->load(std::memory_order_acquire);
  }

  // Records image `image`'s result; each image exactly once.
  void Finish(int image, ImageResult result);

 private:
  std::vector<ImageResult> results_;  // slot i written only by image i's Finish
  std::atomic<int> remaining_;
  DoneCallback on_done_;
  const CancelFlag cancelled_;
};

class ClassifyTask final : public Task {
 public:
  // Image `image` of `call`; `pixels` must stay valid until the call's callback has run.
  // `min_accuracy`: the request's accuracy floor (Task::min_accuracy).
  ClassifyTask(absl::Time arrival, absl::Time deadline, absl::Span<const float> pixels,
               std::shared_ptr<ClassifyCall> call, int image, double min_accuracy = 0);

  absl::Span<const float> pixels() const { return pixels_; }
  // The batch processor's one copy of this image's logits, and the bundle that computed them.
  void SetLogits(absl::Span<const float> logits,
                 std::shared_ptr<const BundleMetadata> model = nullptr) {
    logits_.assign(logits.begin(), logits.end());
    model_ = std::move(model);
  }

  void Finish(const TaskOutcome& outcome) override;
  bool Cancelled() const override { return call_->cancelled(); }

 private:
  const absl::Span<const float> pixels_;
  const std::shared_ptr<ClassifyCall> call_;
  const int image_;
  std::vector<float> logits_;
  std::shared_ptr<const BundleMetadata> model_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_CLASSIFY_TASK_H_
