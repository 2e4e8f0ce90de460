// Policy: decides, for a free worker, which sub-net to run and how many queued requests to batch.
//
// A policy is a function of plain data (STYLE.md rule 5): the time, a summary of the EDF queue and
// the latency profile it was built from. It owns no thread and reads no clock, so the dispatcher
// and the simulator run the very same code, and tests are tables of cases. The profile is
// digested once at construction (e.g. SlackFit's buckets) so that Choose is cheap.
//
// Thread-compatible, not thread-safe: the caller serializes Choose and BatchDone (the
// Dispatcher calls both under its queue lock). State kept between calls changes only in
// BatchDone: `clipper`'s AIMD batch size, and the latency scale of an attached latency model.
#ifndef TERNSERVE_SCHEDULER_POLICY_H_
#define TERNSERVE_SCHEDULER_POLICY_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/latency_model.h"
#include "scheduler/latency_profile.h"

namespace ternserve {

// What a policy may know about the queue. Requests leave in EDF order, so the head is the
// request with the earliest deadline.
struct QueueView {
  int size = 0;                  // requests waiting, >= 1 when Choose is called
  absl::Time earliest_deadline;  // the head's deadline
  absl::Time head_arrival;       // the head's arrival time
  bool flush = false;            // no more arrivals will come (drain, end of trace): never wait
  // Requests/s arriving lately: an exponentially decaying count of the queue's arrivals with a
  // time constant of EdfQueue::kRateTimeConstant (30 ms), as of the decision. 0: none lately.
  double arrival_rate = 0;
  // Accuracy floors (Task::min_accuracy). The head's floor: the batch must run on a sub-net at
  // least this accurate, or the head is passed over. 0: none.
  double head_floor = 0;
  // Queued requests with a floor above 0, counted by floor; owned by the queue, valid during
  // Choose. Null: no request has one.
  const std::map<double, int>* floors = nullptr;

  // How many queued requests a sub-net of expected accuracy `accuracy` may serve: those whose
  // floor is at most it. A batch on that sub-net takes them in EDF order and passes over the rest.
  int Servable(double accuracy) const {
    if (floors == nullptr) return size;
    int above = 0;
    for (auto it = floors->upper_bound(accuracy); it != floors->end(); ++it) above += it->second;
    return size - above;
  }
};

// A policy's answer. batch > 0: run `batch` requests (1 <= batch <= queue size) on `subnet_id`
// now. batch == 0: run nothing yet; ask again at `retry_at` or when a request arrives.
struct Decision {
  int subnet_id = -1;
  int batch = 0;
  absl::Time retry_at = absl::InfiniteFuture();
  // Set by TakeNextBatch for a late=serve batch of hopeless requests: every one is a miss.
  bool late = false;
  // With batch > 0 and late=drop: the head requests whose deadline is before this are dropped
  // (answered DEADLINE_EXCEEDED, misses) before the batch is taken. A policy under overload sheds
  // the requests its batch would finish too late anyway, so that the batch's places go to ones
  // it can still serve in time. InfinitePast: none.
  absl::Time shed_before = absl::InfinitePast();

  static Decision Run(int subnet_id, int batch) {
    return {subnet_id, batch, absl::InfiniteFuture(), false, absl::InfinitePast()};
  }
  static Decision WaitUntil(absl::Time t) { return {-1, 0, t, false, absl::InfinitePast()}; }
  bool operator==(const Decision& o) const {
    return subnet_id == o.subnet_id && batch == o.batch && retry_at == o.retry_at &&
           late == o.late && shed_before == o.shed_before;
  }
};

// When the head request is hopeless: its slack (deadline - now - overhead) is below
// `min_latency`, so no sub-net this policy would use can finish it in time. Such requests are
// dropped (late=drop) or run on `late_subnet_id` (late=serve); both count as misses. This is the
// rule of a request without an accuracy floor; one with a floor is hopeless when its slack is
// below Policy::MinLatencyForFloor (TakeNextBatch).
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

// A sub-net a policy may run, as requests' accuracy floors see it (Policy::floor_tiers).
struct FloorTier {
  int subnet_id = -1;
  double accuracy = 0;  // its expected accuracy (the profile's, from the bundle)
  // The fastest sub-net the policy may run that is at least this accurate (this one or a more
  // accurate one), and its batch-1 p99 at the profile's latencies (latency scale 1).
  int fastest_id = -1;
  absl::Duration fastest_latency;
};

// How a finished batch went, fed back to adaptive policies.
struct BatchOutcome {
  int subnet_id = -1;
  int batch = 0;
  absl::Duration compute_time;
  bool all_deadlines_met = false;
};

// Every policy reasons about latencies from its profile times latency_scale() (1: the profile as
// measured): an OnlineLatencyModel (latency_model.h) attached to it sets the scale from the
// batches it hears of in BatchDone, so that the whole table follows the machine's current speed.
// Scaling every latency by k is the same as scaling the time left by 1/k, which is how the
// policies apply it (ScaledSlackUs).
class Policy {
 public:
  virtual ~Policy();
  // The policy spec it was created from, e.g. "slackfit" or "fixed:3".
  virtual std::string name() const = 0;
  // Called only with queue.size >= 1 and a head that is not hopeless.
  virtual Decision Choose(absl::Time now, const QueueView& queue) const = 0;
  // The rule at the profile's latencies (scale 1); TakeNextBatch applies ScaledHopelessRule.
  virtual HopelessRule hopeless_rule() const = 0;
  // hopeless_rule() with its overhead and minimum latency times latency_scale().
  HopelessRule ScaledHopelessRule() const;

  // Feedback after a batch ran: the latency model (if any) observes it and sets the scale, then
  // OnBatchDone. The Dispatcher and the simulator call this.
  void BatchDone(const BatchOutcome& outcome);
  // The policy's own feedback. Default: ignored.
  virtual void OnBatchDone(const BatchOutcome& /*outcome*/) {}

  // The model that sets the scale from now on (null: none; the scale stays where it is).
  void AttachLatencyModel(std::unique_ptr<OnlineLatencyModel> model);
  const OnlineLatencyModel* latency_model() const { return latency_model_.get(); }
  // The factor on every profiled latency, > 0. set_latency_scale is for a caller that has no
  // model attached (tests, what-ifs); an attached model overrides it at the next batch.
  double latency_scale() const { return latency_scale_; }
  void set_latency_scale(double scale) { latency_scale_ = scale; }

  // Accuracy floors. A request with floor f (Task::min_accuracy) may run only on a sub-net whose
  // expected accuracy is at least f. floor_tiers(): the sub-nets this policy may run, by accuracy
  // ascending; empty for a policy built without a profile, which serves no floor above 0.
  const std::vector<FloorTier>& floor_tiers() const { return floor_tiers_; }
  // The most accurate sub-net's accuracy; a floor above it can never be met. -1 with no tiers.
  double max_accuracy() const;
  // The least accurate tier that meets `floor` (its fastest_* name the fastest sub-net meeting
  // it), or null when no sub-net this policy runs does.
  const FloorTier* TierFor(double floor) const;
  // The expected accuracy of sub-net `subnet_id`, or -1 if this policy does not run it.
  double AccuracyOf(int subnet_id) const;
  // The least time a request of floor `floor` > 0 needs besides the overhead, at the current
  // latency scale: the batch-1 p99 of the fastest sub-net meeting it; InfiniteDuration() when
  // none does. (Floor 0: ScaledHopelessRule().min_latency.)
  absl::Duration MinLatencyForFloor(double floor) const;
  // Sets the tiers from `profile`'s sub-nets with these ids (every sub-net when `ids` is empty).
  // Policies that hold a profile call it in their constructor; CreatePolicy calls it for those
  // built from a sub-net id (fixed, clipper).
  void SetRunnableSubnets(const LatencyProfile& profile, const std::vector<int>& ids = {});

 protected:
  // The time a choice may take, in µs, at the current scale: (deadline - now) / scale - overhead.
  // A choice fits when its profiled p99 is at most this: p99 x scale + overhead x scale fits in
  // deadline - now.
  double ScaledSlackUs(absl::Time now, absl::Time deadline, absl::Duration overhead) const;

 private:
  std::unique_ptr<OnlineLatencyModel> latency_model_;
  double latency_scale_ = 1;
  std::vector<FloorTier> floor_tiers_;
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
  // Attach an OnlineLatencyModel with these options (ternserve --adapt_latency, on by default
  // there; off by default here, so that a policy built in code follows its profile exactly).
  bool adapt_latency = false;
  LatencyModelOptions latency_model;
  // Workers serving the queue (slackfit: a sub-net's capacity is that many times one worker's).
  // The Dispatcher's and the simulator's owners set it from theirs. Default 1.
  int workers = 1;
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
