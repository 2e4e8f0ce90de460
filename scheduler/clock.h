// Clock: the time source for everything in scheduler/ and server/ that reasons about deadlines,
// and the owner of waiting for a time. Injected so that tests and the simulator can run on a fake
// clock: a fake clock that is advanced wakes whoever waits on it, so no waiter polls.
//
// Implementations must be thread-safe.
#ifndef TERNSERVE_SCHEDULER_CLOCK_H_
#define TERNSERVE_SCHEDULER_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ternserve {

class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() const = 0;

  // With `mu` held: releases it until `condition` holds or this clock reaches `deadline`, then
  // reacquires it. Returns whether `condition` holds. The condition is re-evaluated whenever `mu`
  // is released by another thread (absl::Mutex's rule) and whenever the clock reaches the
  // deadline, so whoever makes it true must do so under `mu`.
  virtual bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                                 absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;
};

// The wall clock. Thread-safe; use the process-wide instance.
class RealClock final : public Clock {
 public:
  static RealClock* Get() {
    static RealClock clock;
    return &clock;
  }
  absl::Time Now() const override { return absl::Now(); }
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                         absl::Time deadline) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return mu.AwaitWithDeadline(condition, deadline);
  }
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_CLOCK_H_
