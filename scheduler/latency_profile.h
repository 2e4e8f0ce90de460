// LatencyProfile: the measured latency of every (Pareto sub-net, batch size) pair on the serving
// machine, plus what it was measured with. This is the "latency table" of docs/architecture.md and
// the in-memory form of `profile.json`; the policies and the simulator read nothing else about the
// model.
//
// The file format (version 1):
//   {
//     "format": "ternserve-latency-profile", "version": 1,
//     "bundle": {"name": "...", "path": "...", "checksum": "..."},
//     "engine": "ternary", "isa": "avx2", "workers": 2, "threads": 1,
//     "overhead_us": 40.0,            // measured dispatch overhead per batch
//     "subnets": [
//       {"id": 3, "name": "d333-w1111", "accuracy": 0.912,
//        "batches": [{"batch": 1, "p50_us": 900.0, "p99_us": 1100.0}, ...]},
//       ...]
//   }
// Every sub-net must list batch 1 and strictly increasing batch sizes (the profiler writes
// 1, 2, 4, ..., 64). Latencies are per batch (not per image), in microseconds, p99 >= p50 > 0.
//
// A LatencyProfile is a plain value: build one in code (tests do), Validate it, Load/Save it.
// Thread-compatible: const methods may be called concurrently.
#ifndef TERNSERVE_SCHEDULER_LATENCY_PROFILE_H_
#define TERNSERVE_SCHEDULER_LATENCY_PROFILE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

// Batch sizes the profiler measures.
inline constexpr int kProfiledBatches[] = {1, 2, 4, 8, 16, 32, 64};

struct BatchLatency {
  int batch = 1;
  double p50_us = 0;
  double p99_us = 0;
};

struct SubnetLatency {
  int id = 0;
  std::string name;
  double accuracy = 0;                // expected accuracy in [0, 1], from the bundle
  std::vector<BatchLatency> batches;  // strictly increasing batch, batch 1 first
};

struct LatencyProfile {
  // Where the numbers come from. Informational; not used by the policies.
  std::string bundle_name;
  std::string bundle_path;
  std::string bundle_checksum;
  std::string engine;
  std::string isa;
  int workers = 1;
  int threads = 1;
  // Measured per-batch dispatch overhead (queueing plumbing, copying images), added to every
  // batch's latency when reasoning about slack.
  double overhead_us = 0;
  std::vector<SubnetLatency> subnets;

  // The sub-net with `id`, or nullptr.
  const SubnetLatency* Find(int id) const;
  // Index into `subnets` of the sub-net with the smallest batch-1 p99 latency (-1 if empty).
  int FastestIndex() const;
  // Index of the most accurate sub-net (ties: the faster one; -1 if empty).
  int MostAccurateIndex() const;
  // Largest profiled batch over all sub-nets (0 if empty).
  int MaxBatch() const;
};

// p50/p99 latency in µs of `subnet` at any batch >= 1: exact at profiled sizes, linear in between,
// and linear extrapolation from the last two points (or proportional, with one point) beyond.
double P50Us(const SubnetLatency& subnet, int batch);
double P99Us(const SubnetLatency& subnet, int batch);
// The mean of the log-normal with this median and 99th percentile (the simulator's model of a
// batch's latency): what a long run of batches takes each, on average. Throughput is a mean;
// a p99 would rank a choice whose tail was noisy when profiled below a faster one.
double MeanLatencyUs(double p50_us, double p99_us);

// OK if every field is in range; else INVALID_ARGUMENT "<source>: <field path>: <problem>".
absl::Status ValidateLatencyProfile(const LatencyProfile& profile, absl::string_view source);

// Parses and validates profile JSON. `source` names the file in error messages.
absl::StatusOr<LatencyProfile> ParseLatencyProfile(absl::string_view json_text,
                                                   absl::string_view source);
// Reads `path` and parses it. NOT_FOUND if it cannot be read.
absl::StatusOr<LatencyProfile> LoadLatencyProfile(const std::string& path);

// The JSON text of a valid profile (2-space indented).
std::string LatencyProfileToJson(const LatencyProfile& profile);
// Validates, then writes `path` atomically (temp file + rename).
absl::Status SaveLatencyProfile(const LatencyProfile& profile, const std::string& path);

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_LATENCY_PROFILE_H_
