// Engine speed over time, for the simulator (ternserve-sim --speed): the factor by which the
// engine's true batch times exceed its latency profile at each moment of a run. A profile is
// measured once; on a shared machine the engine later runs slower in spells (CPU steal, a noisy
// neighbour), and a policy that plans with the profile alone misses SLOs. A speed spec lets the
// simulator reproduce that, so that policies with and without the online latency model
// (latency_model.h) are compared on the same drift.
//
// Specs (times in s since the start of the trace, factors in [0.1, 100]):
//   none                                 factor 1 throughout (the default)
//   step:at=S,factor=F                   1 before S, F from S on
//   ramp:from=F1,to=F2,start=S1,end=S2   F1 until S1, moving linearly to F2 at S2, F2 after
//   spells:factor=F,on_s=A,off_s=B       alternating normal stretches (factor 1, exponential with
//                                        mean B s) and slow spells (factor F, mean A s), starting
//                                        normal; deterministic for a seed
//   file:PATH                            one "<time_s> <factor>" per line, times increasing; each
//                                        factor holds from its time to the next line's (1 before
//                                        the first); '#' starts a comment
//
// A batch started at time t takes the profile's draw times FactorAt(t). Thread-compatible; the
// queries of one SpeedModel must come in nondecreasing time (the simulator's clock).
#ifndef TERNSERVE_SCHEDULER_SPEED_H_
#define TERNSERVE_SCHEDULER_SPEED_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ternserve {

struct SpeedSpec {
  enum class Kind { kNone, kStep, kRamp, kSpells, kFile };
  Kind kind = Kind::kNone;
  double at_s = 0, factor = 1;                      // step; factor also spells
  double from = 1, to = 1, start_s = 0, end_s = 0;  // ramp
  double on_s = 0, off_s = 0;                       // spells
  std::vector<std::pair<double, double>> points;    // file: (time_s, factor), read at parse
  std::string text;                                 // the spec as given
};

// Parses a spec; a file: spec reads and checks its file. INVALID_ARGUMENT quotes the spec (or
// "PATH:LINE: ...") and says what is wrong; NOT_FOUND for a file that cannot be read.
absl::StatusOr<SpeedSpec> ParseSpeedSpec(absl::string_view spec);

// The speed file's text (the format above); `source` names it in errors.
absl::StatusOr<std::vector<std::pair<double, double>>> ParseSpeedFile(absl::string_view text,
                                                                      absl::string_view source);

class SpeedModel {
 public:
  SpeedModel(const SpeedSpec& spec, uint64_t seed);
  // The factor at `t` since the start; t nondecreasing across calls.
  double FactorAt(absl::Duration t);

 private:
  const SpeedSpec spec_;
  // spells: the current stretch and when it ends.
  std::mt19937_64 rng_;
  bool slow_ = false;
  double stretch_end_s_ = 0;
  size_t next_point_ = 0;  // file: first point after the last query
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_SPEED_H_
