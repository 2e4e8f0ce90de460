// Simulate: a discrete-event replay of an arrival trace against a policy and a latency profile,
// with W simulated workers. It runs the same EdfQueue, TakeNextBatch and Policy code as the
// Dispatcher, on a simulated clock (time jumps from event to event; no threads, no sleeping), so a
// policy can be evaluated on millions of requests and many workers.
//
// Model: a batch of b requests on sub-net s takes overhead_us plus a latency drawn from a
// log-normal distribution whose median is the profile's p50(s, b) and whose 99th percentile is
// p99(s, b) (batches between profiled sizes are interpolated), all of it times the engine's speed
// factor when the batch starts (options.speed; 1 by default). Each request's deadline is its
// arrival plus its SLO (the trace's, else options.slo), less options.slo_reserve: the policy plans
// for that deadline, as `ternserve --slo_reserve_ms` does. Hopeless requests are dropped or served
// late per options.late and count as misses; a full queue rejects (also a miss).
//
// The way to and from the server (options.outside: both gRPC stacks, the network, waits for a
// CPU) is by default free. Given, each served request's latency is its queue and compute time plus
// an outside time drawn from a log-normal with that median and 99th percentile, and it is met
// when that latency is within its whole SLO: what a client observes.
//
// Deterministic for a seed. Not thread-safe per call, but calls are independent.
#ifndef TERNSERVE_SCHEDULER_SIMULATOR_H_
#define TERNSERVE_SCHEDULER_SIMULATOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "scheduler/dispatch_step.h"
#include "scheduler/floor_mix.h"
#include "scheduler/latency_profile.h"
#include "scheduler/policy.h"
#include "scheduler/schedule_log.h"
#include "scheduler/speed.h"
#include "scheduler/trace.h"

namespace ternserve {

struct SimulatorOptions {
  // Policy spec for CreatePolicy. Default slackfit.
  std::string policy = "slackfit";
  PolicyOptions policy_options;
  // Simulated workers, each running one batch at a time. Default 1.
  int workers = 1;
  // SLO of requests whose trace line carries none. Default 50 ms.
  absl::Duration slo = absl::Milliseconds(50);
  // Queue bound; beyond it arrivals are rejected. Default 1 M (effectively unbounded).
  int max_queue = 1 << 20;
  LateMode late = LateMode::kDrop;
  // Seeds the service-time draws (the trace has its own seed).
  uint64_t seed = 1;
  // Part of every SLO the server keeps for the way to and from the client; the policy plans for
  // arrival + SLO - this. Below options.slo; a trace SLO at or below it makes its request
  // hopeless. Default 0.
  absl::Duration slo_reserve = absl::ZeroDuration();
  // Outside time per request: median and 99th percentile (0, 0 = none, the default).
  absl::Duration outside_p50 = absl::ZeroDuration();
  absl::Duration outside_p99 = absl::ZeroDuration();
  // The engine's true speed over time (speed.h): a batch started at t takes its draw from the
  // profile times the factor at t, while the policy still plans with the profile (corrected by
  // its latency model if policy_options.adapt_latency). Default: as profiled.
  SpeedSpec speed;
  // Replay of a live run's batch times (ternserve-sim --replay, schedule_log.h): the k-th batch
  // is decided no earlier than replay[k].decided (since the start; live, a worker decides when its
  // thread runs, not the instant it is free), occupies its worker for replay[k].busy, answers its
  // requests replay[k].answered after the decision, and tells the policy it computed for
  // replay[k].compute; options.speed and the profile's overhead do not apply to it. Past the list,
  // the model above.
  struct ReplayBatch {
    absl::Duration decided, busy, answered, compute;
  };
  std::vector<ReplayBatch> replay;
  // Keep every decision (SimulationResult::decisions), to compare with a live run's.
  bool record_decisions = false;
  // Accuracy floors (ternserve-sim --floor_mix): each arrival gets a floor drawn from this mix
  // (FloorMixSampler, seeded with `seed`); empty (the default): none. A request whose floor no
  // sub-net can meet in time is refused at arrival (AdmitFloor), as the server does, and counts
  // as a miss.
  std::vector<FloorMixEntry> floor_mix;
};

struct SimulationResult {
  int64_t requests = 0;  // arrivals
  int64_t served = 0;    // run on some sub-net (late=serve ones included)
  int64_t met = 0;  // served and answered within the SLO, outside time included (never late ones)
  int64_t dropped = 0;        // hopeless, answered DEADLINE_EXCEEDED (late=drop)
  int64_t rejected = 0;       // queue full
  int64_t refused_floor = 0;  // refused at arrival for its accuracy floor (AdmitFloor)
  int64_t batches = 0;
  double slo_attainment = 0;  // met / requests
  double mean_accuracy = 0;   // expected accuracy over served requests
  double p50_ms = 0;          // latency of served requests, outside time included
  double p99_ms = 0;
  double mean_batch = 0;                   // served / batches
  std::map<int, int64_t> subnet_requests;  // sub-net id -> requests served on it
  double simulated_seconds = 0;            // first arrival to last completion
  // The policy's latency scale (Policy::latency_scale): its mean over batches, and the last.
  double mean_latency_scale = 1;
  double final_latency_scale = 1;
  // With options.record_decisions: (sub-net, batch size, late) of every batch, in decision order.
  struct BatchDecision {
    int subnet_id;
    int size;
    bool late;
    bool operator==(const BatchDecision& o) const {
      return subnet_id == o.subnet_id && size == o.size && late == o.late;
    }
  };
  std::vector<BatchDecision> decisions;
  // With a floor mix: per floor of the mix (0 included when in it), its requests and how they
  // went. A violation is a request served on a sub-net whose profiled accuracy is below its floor
  // (counted from the profile, not from the policy's tiers, so that it checks them).
  struct FloorResult {
    int64_t requests = 0;
    int64_t met = 0;
    int64_t served = 0;
    int64_t refused_above = 0;     // OUT_OF_RANGE at arrival: no sub-net is that accurate
    int64_t refused_deadline = 0;  // DEADLINE_EXCEEDED for the floor alone, at arrival or queued
    int64_t violations = 0;
    double min_served_accuracy = 0;  // lowest expected accuracy it was served at; 0: none served
  };
  std::map<double, FloorResult> floors;
  int64_t floor_violations = 0;  // summed over `floors`
};

// `profile` must be valid. INVALID_ARGUMENT for a bad policy spec or options.
absl::StatusOr<SimulationResult> Simulate(const LatencyProfile& profile, ArrivalSource* trace,
                                          const SimulatorOptions& options);

// Scheduling fidelity: a live run's schedule log replayed in the simulator, with the arrivals the
// server accepted (at their enqueue times, with their deadlines), the policy settings it ran
// with, and every batch taking exactly as long as it took live (SimulatorOptions::replay). With
// the same inputs the simulator's decisions must be the server's, and its attainment the server's
// own.
struct ReplayReport {
  SimulationResult result;
  int64_t live_batches = 0;
  int64_t compared = 0;          // decisions compared: min(live, simulated)
  int64_t matched = 0;           // the k-th decision the same (sub-net, size, late)
  int64_t first_mismatch = -1;   // index of the first that differs; -1: none
  double server_attainment = 0;  // ScheduleLog::attainment
  int64_t cancelled = 0;         // cancelled live (the replay runs them)
};

// `profile` is the one the server ran with. INVALID_ARGUMENT for a log whose policy settings the
// profile cannot take (a sub-net it lacks, bad late mode).
absl::StatusOr<ReplayReport> ReplayScheduleLog(const LatencyProfile& profile,
                                               const ScheduleLog& log);

// {"requests", "slo_attainment", "dropped", "mean_accuracy", "p50_ms", "p99_ms",
//  "subnet_mix": {"<id>": fraction of served}, "mean_batch", and the other counters}.
std::string SimulationResultToJson(const SimulationResult& result, const SimulatorOptions& options);

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_SIMULATOR_H_
