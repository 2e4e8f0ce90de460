// Time source for everything in scheduler/ and server/ that reasons about deadlines. Injected so
// that tests and the simulator can run on a fake clock (STYLE.md rule 4). Implementations must be
// thread-safe.
#ifndef TERNSERVE_SCHEDULER_CLOCK_H_
#define TERNSERVE_SCHEDULER_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ternserve {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

// The wall clock. Thread-safe; use the process-wide instance.
class RealClock final : public Clock {
 public:
  static RealClock* Get() {
    static RealClock clock;
    return &clock;
  }
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_CLOCK_H_
