// FakeClock: a Clock that moves only when a test says so. Advance and Set wake every thread
// waiting on the clock (AwaitWithDeadline), which then re-checks its condition and deadline, so a
// dispatcher on a fake clock needs no polling.
//
// Thread-safe. Advance/Set lock each waiter's mutex briefly to wake it, so they must not be called
// with such a mutex held (e.g. from a DispatcherObserver), and a waiter's mutex must outlive any
// Advance/Set that runs while it waits (tests advance and destroy from one thread).
#ifndef TERNSERVE_TESTS_TESTING_FAKE_CLOCK_H_
#define TERNSERVE_TESTS_TESTING_FAKE_CLOCK_H_

#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/clock.h"

namespace ternserve {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    {
      absl::MutexLock lock(&mu_);
      now_ += d;
    }
    WakeWaiters();
  }
  void Set(absl::Time t) {
    {
      absl::MutexLock lock(&mu_);
      now_ = t;
    }
    WakeWaiters();
  }

  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                         absl::Time deadline) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    {
      absl::MutexLock lock(&mu_);
      ++waiting_on_[&mu];
      ++waits_started_;
    }
    auto done = [&]() { return condition.Eval() || Now() >= deadline; };
    mu.Await(absl::Condition(&done));
    {
      absl::MutexLock lock(&mu_);
      if (--waiting_on_[&mu] == 0) waiting_on_.erase(&mu);
    }
    return condition.Eval();
  }

  // Blocks until `n` waits have started on this clock since it was made (each AwaitWithDeadline
  // call counts once): a test's way to know a worker has gone to wait for a time.
  void WaitForWaits(int n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return waits_started_ >= n; };
    mu_.Await(absl::Condition(&reached));
  }
  int waits_started() const {
    absl::MutexLock lock(&mu_);
    return waits_started_;
  }

 private:
  // Releasing a waiter's mutex makes absl re-evaluate its condition, which reads the new time.
  void WakeWaiters() {
    std::vector<absl::Mutex*> waiters;
    {
      absl::MutexLock lock(&mu_);
      for (const auto& [waiter_mu, count] : waiting_on_) waiters.push_back(waiter_mu);
    }
    for (absl::Mutex* waiter_mu : waiters) {
      waiter_mu->Lock();
      waiter_mu->Unlock();
    }
  }

  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  std::map<absl::Mutex*, int> waiting_on_ ABSL_GUARDED_BY(mu_);
  int waits_started_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ternserve

#endif  // TERNSERVE_TESTS_TESTING_FAKE_CLOCK_H_
