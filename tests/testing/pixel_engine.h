// PixelEngine: a model-free Engine for server tests. Logit c of an image is 10 x its pixel c, so a
// request's top class is the index of its brightest pixel among 0..9. All engines made from one
// PixelEngineControl can be held (to fill the queue), made to fail, and made to advance a fake
// clock by a fixed compute time, so tests can assert exact timings.
#ifndef TERNSERVE_TESTS_TESTING_PIXEL_ENGINE_H_
#define TERNSERVE_TESTS_TESTING_PIXEL_ENGINE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "models/arch.h"
#include "models/engine.h"
#include "tests/testing/fake_clock.h"

namespace ternserve {

// Shared by every PixelEngine made from it. Thread-safe.
class PixelEngineControl {
 public:
  void Hold(bool held) {
    absl::MutexLock lock(&mu_);
    held_ = held;
  }
  void Fail(absl::Status status) {
    absl::MutexLock lock(&mu_);
    fail_ = std::move(status);
  }
  // Each batch advances `clock` by `compute_time` (null: no clock).
  void AdvanceOnRun(FakeClock* clock, absl::Duration compute_time) {
    absl::MutexLock lock(&mu_);
    clock_ = clock;
    compute_time_ = compute_time;
  }
  // Blocks until `n` batches have entered Run.
  void WaitEntered(int n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return batches_ >= n; };
    mu_.Await(absl::Condition(&reached));
  }
  // Images of the batches that have entered Run.
  int images_entered() {
    absl::MutexLock lock(&mu_);
    return images_;
  }

  std::unique_ptr<Engine> MakeEngine();

 private:
  friend class PixelEngine;
  // Called by Run: counts the batch, waits while held, then returns the failure to report.
  absl::Status Enter(int batch) {
    FakeClock* clock = nullptr;
    absl::Duration compute_time;
    absl::Status fail;
    {
      absl::MutexLock lock(&mu_);
      ++batches_;
      images_ += batch;
      auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_; };
      mu_.Await(absl::Condition(&released));
      clock = clock_;
      compute_time = compute_time_;
      fail = fail_;
    }
    if (clock != nullptr) clock->Advance(compute_time);
    return fail;
  }

  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fail_ ABSL_GUARDED_BY(mu_);
  FakeClock* clock_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::Duration compute_time_ ABSL_GUARDED_BY(mu_);
  int batches_ ABSL_GUARDED_BY(mu_) = 0;
  int images_ ABSL_GUARDED_BY(mu_) = 0;
};

class PixelEngine final : public Engine {
 public:
  explicit PixelEngine(PixelEngineControl* control) : control_(control) {}

  absl::StatusOr<LogitsView> Run(int /*subnet_id*/, absl::Span<const float> images,
                                 int batch) override {
    if (images.size() != static_cast<size_t>(batch) * kImagePixels) {
      return absl::InvalidArgumentError("PixelEngine: wrong image size");
    }
    if (absl::Status fail = control_->Enter(batch); !fail.ok()) return fail;
    logits_.assign(static_cast<size_t>(batch) * kRowStride, -1.0f);  // padding stays -1
    for (int n = 0; n < batch; ++n) {
      for (int c = 0; c < kClasses; ++c) {
        logits_[static_cast<size_t>(n) * kRowStride + c] =
            10.0f * images[static_cast<size_t>(n) * kImagePixels + c];
      }
    }
    return LogitsView{logits_.data(), batch, kClasses, kRowStride};
  }
  std::string name() const override { return "pixel"; }

  static constexpr int kClasses = 10;
  static constexpr int kRowStride = 16;  // padded rows, as the ternary engine's

 private:
  PixelEngineControl* const control_;
  std::vector<float> logits_;
};

inline std::unique_ptr<Engine> PixelEngineControl::MakeEngine() {
  return std::make_unique<PixelEngine>(this);
}

}  // namespace ternserve

#endif  // TERNSERVE_TESTS_TESTING_PIXEL_ENGINE_H_
