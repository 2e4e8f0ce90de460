// The load generator's request plan: before a run, every request of the trace is laid out in a
// preallocated RequestRecord (arrival time, SLO, image), so that the sending thread only reads its
// slot and the completion callback only writes its own slot's result fields.
//
// Pure functions of their inputs (the trace source and a seed); thread-compatible value types.
#ifndef TERNSERVE_CLIENT_LOADGEN_PLAN_H_
#define TERNSERVE_CLIENT_LOADGEN_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "scheduler/floor_mix.h"
#include "scheduler/trace.h"

namespace ternserve {

// One request of a run. The plan fields are written before the run; `sent_ns` by the pacing
// thread; the result fields by the request's completion callback only (one writer per slot,
// published to the reader by the run's completion counter). One cache line each, so callbacks
// finishing neighbouring requests on different threads do not share lines.
struct alignas(64) RequestRecord {
  static constexpr int32_t kNoResponse = -1;  // `code` of a request not (yet) answered

  // Plan.
  int64_t arrival_ns = 0;  // trace arrival time since the start of the run
  float slo_ms = 0;
  int32_t image = 0;  // index into the image set
  // Pacing thread: when the call was actually issued, since the start of the run.
  int64_t sent_ns = 0;
  // Completion callback.
  int64_t done_ns = 0;  // since the start of the run
  int64_t queue_us = 0;
  int64_t compute_us = 0;
  float expected_accuracy = 0;
  int32_t code = kNoResponse;  // gRPC status code (google.rpc.Code numbering)
  int16_t subnet_id = -1;
  // The replica whose answer (or failure) this is, as 1 + its index in RunInfo::backends; 0 when
  // the call reached none (it failed before it was sent anywhere). With retries, the last
  // attempt's.
  uint8_t backend = 0;
  bool correct = false;  // predicted top-1 == label
  bool deadline_met = false;
  bool expired_in_client = false;  // DEADLINE_EXCEEDED from the client (LoadgenAnswer)
  // Plan: the request's accuracy floor, as 1 + its index in the run's floor mix
  // (PlanOptions::floor_mix, RunInfo::floors); 0: none.
  uint8_t floor = 0;
};
static_assert(sizeof(RequestRecord) == 64, "one cache line per request");

// One entry of --slo_mix: requests get `slo_ms` with probability `weight` / sum of weights.
struct SloMixEntry {
  double slo_ms = 0;
  double weight = 0;
};

// Parses "S1:p1,S2:p2,..." (SLO in ms > 0, weight > 0; weights need not sum to 1).
// INVALID_ARGUMENT quotes the spec and names the bad entry.
absl::StatusOr<std::vector<SloMixEntry>> ParseSloMix(absl::string_view spec);

struct PlanOptions {
  // SLOs of arrivals that carry none (a file trace's own SLO wins). Must not be empty; one entry
  // for a fixed --slo_ms.
  std::vector<SloMixEntry> slo_mix;
  // Accuracy floors (--floor_mix), drawn on a stream of their own; empty: none.
  std::vector<FloorMixEntry> floor_mix;
  int64_t image_count = 1;  // images are drawn uniformly from [0, image_count)
  uint64_t seed = 1;
  // Refuse traces with more arrivals than this (each costs one RequestRecord, 64 bytes).
  int64_t max_requests = 50'000'000;
};

// Drains `trace` into one record per arrival. INVALID_ARGUMENT for bad options or a trace longer
// than max_requests.
absl::StatusOr<std::vector<RequestRecord>> PlanRequests(ArrivalSource* trace,
                                                        const PlanOptions& options);

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_LOADGEN_PLAN_H_
