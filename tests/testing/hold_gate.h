// HoldGate: lets a test stop a worker inside a call (a fake BatchProcessor's ProcessBatch) and go
// on once it has seen it there: Hold, then WaitEntered(n) returns once n calls have entered, and
// Release lets them through. Thread-safe.
#ifndef TERNSERVE_TESTS_TESTING_HOLD_GATE_H_
#define TERNSERVE_TESTS_TESTING_HOLD_GATE_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ternserve {

class HoldGate {
 public:
  // Called by the worker: counts the call, then blocks while the gate is held.
  void Enter() {
    absl::MutexLock lock(&mu_);
    ++entered_;
    mu_.Await(absl::Condition(this, &HoldGate::NotHeld));
  }
  void Hold() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }
  // Blocks until `n` calls have entered (held or not).
  void WaitEntered(int n) {
    absl::MutexLock lock(&mu_);
    wait_entered_ = n;
    mu_.Await(absl::Condition(this, &HoldGate::EnteredEnough));
  }

 private:
  bool NotHeld() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_; }
  bool EnteredEnough() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entered_ >= wait_entered_;
  }

  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  int wait_entered_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ternserve

#endif  // TERNSERVE_TESTS_TESTING_HOLD_GATE_H_
