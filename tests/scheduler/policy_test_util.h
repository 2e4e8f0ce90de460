// Shared helpers for the table-driven policy tests.
#ifndef TERNSERVE_TESTS_SCHEDULER_POLICY_TEST_UTIL_H_
#define TERNSERVE_TESTS_SCHEDULER_POLICY_TEST_UTIL_H_

#include <ostream>

#include "absl/time/time.h"
#include "scheduler/policy.h"

namespace ternserve {

inline absl::Time TestNow() { return absl::FromUnixSeconds(1000); }

// A queue of `size` requests whose head is due `slack_us` after TestNow() and arrived `waited_us`
// before it.
inline QueueView Queue(int size, double slack_us, double waited_us = 0, bool flush = false) {
  return QueueView{size, TestNow() + absl::Microseconds(slack_us),
                   TestNow() - absl::Microseconds(waited_us), flush};
}

inline std::ostream& operator<<(std::ostream& os, const Decision& d) {
  return os << "{subnet " << d.subnet_id << ", batch " << d.batch << ", retry_at "
            << absl::FormatTime(d.retry_at) << (d.late ? ", late" : "") << ", shed_before "
            << absl::FormatTime(d.shed_before) << "}";
}

}  // namespace ternserve

#endif  // TERNSERVE_TESTS_SCHEDULER_POLICY_TEST_UTIL_H_
