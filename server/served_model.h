// ServedModel and CurrentModel: the model a server serves now, as its services describe it, and
// the one place a reload (Server::ReloadModel) replaces it.
//
// An answer names the bundle that computed it (ImageResult::model), so a batch that ran on the old
// bundle is answered from the old one's labels and sub-nets even once the new one is current; the
// services read CurrentModel only for what describes the model as a whole (GetModelInfo) and for
// results that name no bundle.
//
// Thread-safe: Get and Set may be called concurrently; what Get returns is immutable and stays
// valid for as long as the caller holds it.
#ifndef TERNSERVE_SERVER_SERVED_MODEL_H_
#define TERNSERVE_SERVER_SERVED_MODEL_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "models/bundle.h"
#include "scheduler/latency_profile.h"

namespace ternserve {

struct ServedModel {
  // Never null. May share ownership of its bundle (std::shared_ptr's aliasing constructor), which
  // then lives as long as any holder of the metadata.
  std::shared_ptr<const BundleMetadata> metadata;
  // The latency table the policy decides with; null: none to report.
  std::shared_ptr<const LatencyProfile> profile;
  // The policy deciding its batches, e.g. "slackfit" or "fixed:3".
  std::string policy;
  // 1 for the model served at start-up; each reload adds one.
  int generation = 1;
};

class CurrentModel {
 public:
  explicit CurrentModel(ServedModel model)
      : model_(std::make_shared<const ServedModel>(std::move(model))) {}

  CurrentModel(const CurrentModel&) = delete;
  CurrentModel& operator=(const CurrentModel&) = delete;

  std::shared_ptr<const ServedModel> Get() const {
    absl::MutexLock lock(&mu_);
    return model_;
  }
  void Set(ServedModel model) {
    auto next = std::make_shared<const ServedModel>(std::move(model));
    absl::MutexLock lock(&mu_);
    model_.swap(next);
    // The old model is released outside the lock (`next` now holds it).
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const ServedModel> model_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_SERVED_MODEL_H_
