// MeasureLatencyProfile: measures the latency table (scheduler/latency_profile.h) of a bundle on
// this machine, with the engines and worker layout that will serve it. Used by ternserve-profile
// and by the server when it profiles itself at start-up (docs/architecture.md "Scheduling", "The
// latency profile format").
//
// The measurement runs every engine at once, one thread per engine, as the server's W workers do
// under load: a cell's latency includes the contention for cores, caches and memory bandwidth
// that serving sees. Engines are passed in (not created here), so this library needs no LibTorch.
//
// Thread-compatible: one call at a time per set of engines (an Engine runs one batch at a time).
#ifndef TERNSERVE_SERVER_PROFILER_H_
#define TERNSERVE_SERVER_PROFILER_H_

#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "models/bundle.h"
#include "models/engine.h"
#include "scheduler/latency_profile.h"

namespace ternserve {

struct ProfilerOptions {
  // Batch sizes to measure: must start at 1 and strictly increase. Default kProfiledBatches.
  std::vector<int> batches = {std::begin(kProfiledBatches), std::end(kProfiledBatches)};
  // Total wall-time budget for all (sub-net, batch) cells; each cell gets an equal share, with at
  // least `min_iterations` runs (so a slow cell may exceed its share). About 2% of it (at most
  // 0.5 s) goes to measuring the dispatch overhead. More budget: more samples, steadier p99s.
  absl::Duration budget = absl::Seconds(25);
  // Fewest timed runs per cell, over all engines together. Default 5; must be >= 1.
  int min_iterations = 5;
  // Called with a human progress line: once for the overhead, once after each but the last round
  // ("profiling round 1/4 of 168 cells done, ETA 19s"), and once per cell in the last round, when
  // its numbers are final ("profiling 37/168: d2.2.2-w16.32.64 batch 8: p50 1.92 ms p99 2.31 ms,
  // ETA 4s"). Called on the calling thread. May be empty.
  std::function<void(const std::string&)> progress;
};

// Measures p50/p99 latency of every sub-net of `bundle` x every batch in options.batches with the
// serving layout: `engines` holds one engine per worker (the server's W workers), and all of them
// run batches concurrently during the measurement, as when serving under load (W=1: one engine).
// Cells are visited in a few interleaved rounds (so a passing burst of other load on the machine
// spreads over all of them); each engine runs one untimed warm-up batch at a cell's first visit.
//
// Fills bundle name/path/checksum (Bundle::checksum()), engine name, isa (as passed; empty for
// torch), workers = engines.size(), threads, each sub-net's accuracy (its test_accuracy), and
// overhead_us: the measured p99 of a no-op request's round trip through a real Dispatcher with W
// workers (a BatchProcessor that returns zeros at once), i.e. the scheduling cost outside the
// engine. Validates the result before returning.
//
// INVALID_ARGUMENT for no engines, a null engine, engines of different kinds, bad batches, a
// non-positive budget or min_iterations < 1; an engine's error (naming the sub-net and batch) if a
// run fails. `bundle` and `engines` are only borrowed.
absl::StatusOr<LatencyProfile> MeasureLatencyProfile(const Bundle& bundle,
                                                     const std::vector<Engine*>& engines,
                                                     const std::string& isa, int threads,
                                                     const ProfilerOptions& options);

// A loaded profile made fit to schedule `bundle` with: FAILED_PRECONDITION, naming both files
// and both checksums, unless the profile was measured on exactly this bundle (same checksum) and
// lists every sub-net of it and no other; then the profile with each sub-net's accuracy taken
// from the bundle (the profile's copy is informational). `path` names the profile in messages.
absl::StatusOr<LatencyProfile> MatchProfileToBundle(LatencyProfile profile, const std::string& path,
                                                    const Bundle& bundle);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_PROFILER_H_
