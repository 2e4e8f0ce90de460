// Policy: decides, for a free worker, which sub-net to run and how many queued requests to batch.
//
// A policy is a function of plain data (STYLE.md rule 5): the time, a summary of the EDF queue and
// the latency profile it was built from. It owns no thread and reads no clock, so the dispatcher
// and the simulator run the very same code, and tests are tables of cases. The profile is
// digested once at construction (e.g. SlackFit's buckets) so that Choose is cheap.
//
// Thread-compatible, not thread-safe: the caller serializes Choose and OnBatchDone (the
// Dispatcher calls both under its queue lock). Only `clipper` keeps state between calls (its
// AIMD batch size), and it changes only in OnBatchDone.
#ifndef TERNSERVE_SCHEDULER_POLICY_H_
#define TERNSERVE_SCHEDULER_POLICY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/latency_profile.h"

namespace ternserve {

// What a policy may know about the queue. Requests leave in EDF order, so the head is the
// request with the earliest deadline.
struct QueueView {
  int size = 0;                  // requests waiting, >= 1 when Choose is called
  absl::Time earliest_deadline;  // the head's deadline
  absl::Time head_arrival;       // the head's arrival time
  bool flush = false;            // no more arrivals will come (drain, end of trace): never wait
};

// A policy's answer. batch > 0: run `batch` requests (1 <= batch <= queue size) on `subnet_id`
// now. batch == 0: run nothing yet; ask again at `retry_at` or when a request arrives.
struct Decision {
  int subnet_id = -1;
  int batch = 0;
  absl::Time retry_at = absl::InfiniteFuture();
  // Set by TakeNextBatch for a late=serve batch of hopeless requests: every one is a miss.
  bool late = false;

  static Decision Run(int subnet_id, int batch) {
    return {subnet_id, batch, absl::InfiniteFuture(), false};
  }
  static Decision WaitUntil(absl::Time t) { return {-1, 0, t, false}; }
  bool operator==(const Decision& o) const {
    return subnet_id == o.subnet_id && batch == o.batch && retry_at == o.retry_at && late == o.late;
  }
};

// When the head request is hopeless: its slack (deadline - now - overhead) is below
// `min_latency`, so no sub-net this policy would use can finish it in time. Such requests are
// dropped (late=drop) or run on `late_subnet_id` (late=serve); both count as misses.
struct HopelessRule {
  absl::Duration overhead;
  absl::Duration min_latency;
  int late_subnet_id = -1;
  int late_max_batch = 1;  // late=serve batches at most this many hopeless requests

  bool IsHopeless(absl::Time deadline, absl::Time now) const {
    return deadline - now - overhead < min_latency;
  }
};

// The rule of policies that may use any sub-net (slackfit, infaas): hopeless when even the
// fastest sub-net at batch 1 cannot finish in time; late=serve runs such requests on that sub-net,
// up to `late_max_batch` at a time.
HopelessRule FastestSubnetHopelessRule(const LatencyProfile& profile, int late_max_batch);

// How a finished batch went, fed back to adaptive policies.
struct BatchOutcome {
  int subnet_id = -1;
  int batch = 0;
  absl::Duration compute_time;
  bool all_deadlines_met = false;
};

class Policy {
 public:
  virtual ~Policy() = default;
  // The policy spec it was created from, e.g. "slackfit" or "fixed:3".
  virtual std::string name() const = 0;
  // Called only with queue.size >= 1 and a head that is not hopeless.
  virtual Decision Choose(absl::Time now, const QueueView& queue) const = 0;
  virtual HopelessRule hopeless_rule() const = 0;
  // Feedback after a batch ran. Default: ignored.
  virtual void OnBatchDone(const BatchOutcome& /*outcome*/) {}
};

struct PolicyOptions {
  // fixed: the largest batch, and how long the head may wait for the batch to fill (Triton's
  // max_queue_delay). 0 = no limit / no waiting. Defaults: the profile's largest batch, 0.
  int max_batch = 0;
  absl::Duration max_queue_delay = absl::ZeroDuration();
  // slackfit: number of equal-width latency buckets between the smallest and largest p99.
  // Coarser buckets pool more batch sizes per bucket, so a backlog is served in bigger batches;
  // finer ones track the slack more closely. Default 8: on a synthetic 8-sub-net ladder (2
  // workers, 25 ms SLO, gamma cv2 = 8) 16 buckets fell to 98% SLO attainment at 0.8x the fastest
  // sub-net's capacity and 8 kept 99.97%, at the same mean accuracy (+-0.001) at lower loads.
  int slackfit_buckets = 8;
};

// Builds a policy from a spec: "slackfit", "infaas", "clipper" (the most accurate sub-net),
// "clipper:<id>", "fixed" (the most accurate sub-net) or "fixed:<id>". INVALID_ARGUMENT names the
// spec and lists the valid ones; NOT_FOUND for a sub-net id not in the profile. The profile must be
// valid and must outlive nothing: the policy copies what it needs.
absl::StatusOr<std::unique_ptr<Policy>> CreatePolicy(absl::string_view spec,
                                                     const LatencyProfile& profile,
                                                     const PolicyOptions& options = {});

// OK if `spec` is a policy spec CreatePolicy would parse (a known kind; an integer sub-net id only
// after fixed: or clipper:); else INVALID_ARGUMENT naming the spec and the valid ones. Whether the
// id is in a profile is CreatePolicy's to check. For flag checks that run before a profile exists
// (ternserve, ternserve-sim).
absl::Status ValidatePolicySpec(absl::string_view spec);

// The spec names CreatePolicy accepts, for --help and error messages.
inline constexpr absl::string_view kPolicyNames =
    "slackfit, fixed[:<subnet>], infaas, clipper[:<subnet>]";

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_POLICY_H_
