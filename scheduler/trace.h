// Arrival traces for the simulator: a spec string names a synthetic arrival process or a file,
// and OpenTrace turns it into a stream of arrival times.
//
// Specs (rates in requests/s, durations in s, at most 1e9):
//   poisson:rate=R,duration=S        exponential inter-arrival times
//   gamma:rate=R,cv2=C,duration=S    gamma inter-arrival times with mean 1/R and squared
//                                    coefficient of variation C (C = 1 is Poisson, C > 1 bursty;
//                                    C <= 1000)
//   ramp:from=R1,to=R2,duration=S    Poisson with the rate moving linearly from R1 to R2
//   mmpp:calm=R1,burst=R2,calm_s=A,burst_s=B,duration=S
//                                    two-state Markov-modulated Poisson: Poisson at R1 in the calm
//                                    state, at R2 in the burst state; each visit to a state lasts
//                                    an exponential time of mean A s (calm) or B s (burst); starts
//                                    calm (R1, R2 >= 0, not both 0; A, B > 0)
//   file:PATH                        one arrival per line: time in µs since the start (at most
//                                    1e15, the longest duration), then
//                                    optionally the request's SLO in ms; '#' starts a comment
// Synthetic traces are deterministic for a seed (std::mt19937_64 and libstdc++'s distributions).
//
// An ArrivalSource is a single-threaded stream; it generates arrivals lazily, so a trace of 10 M
// requests costs no memory (a file trace is read whole at open).
#ifndef TERNSERVE_SCHEDULER_TRACE_H_
#define TERNSERVE_SCHEDULER_TRACE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ternserve {

struct Arrival {
  absl::Duration time;                        // since the start of the trace
  absl::Duration slo = absl::ZeroDuration();  // zero: use the simulator's default SLO
  // How long before `time` the request arrived (it reaches the queue at `time`; its arrival and
  // deadline count from `time - queued_after`). Zero for every trace; a schedule log's replay sets
  // it to a live request's wait between being read and being queued.
  absl::Duration queued_after = absl::ZeroDuration();
  // The request's accuracy floor (Task::min_accuracy); 0: none. No trace sets it; the simulator's
  // floor mix does (SimulatorOptions::floor_mix).
  double min_accuracy = 0;
};

struct TraceSpec {
  enum class Kind { kPoisson, kGamma, kRamp, kMmpp, kFile };
  Kind kind = Kind::kPoisson;
  double rate = 0;     // poisson, gamma
  double cv2 = 1;      // gamma
  double from = 0;     // ramp
  double to = 0;       // ramp
  double calm = 0;     // mmpp: rate in the calm state
  double burst = 0;    // mmpp: rate in the burst state
  double calm_s = 0;   // mmpp: mean length of a calm visit
  double burst_s = 0;  // mmpp: mean length of a burst visit
  double duration_s = 0;
  std::string path;  // file
};

// Parses a spec; INVALID_ARGUMENT quotes the spec and says what is wrong.
absl::StatusOr<TraceSpec> ParseTraceSpec(absl::string_view spec);

// The long-run mean arrival rate of a synthetic trace, in requests/s: poisson and gamma `rate`,
// ramp (from + to) / 2, mmpp the time-weighted (calm * calm_s + burst * burst_s) /
// (calm_s + burst_s) (over a duration not much longer than calm_s + burst_s the realised rate
// varies widely around it). 0 for a file trace, whose rate is only known once read.
double TraceMeanRate(const TraceSpec& spec);

class ArrivalSource {
 public:
  virtual ~ArrivalSource() = default;
  // The next arrival, in nondecreasing time order. False when the trace is over.
  virtual bool Next(Arrival* arrival) = 0;
};

// Opens a trace. A file trace is read and checked here: INVALID_ARGUMENT "PATH:LINE: ..." for a
// malformed line or a time that goes backwards, NOT_FOUND if it cannot be read.
absl::StatusOr<std::unique_ptr<ArrivalSource>> OpenTrace(const TraceSpec& spec, uint64_t seed);

// The arrivals of a file trace's text (the format above); `source` names it in errors:
// INVALID_ARGUMENT "SOURCE:LINE: ..." for a malformed line or a time that goes backwards.
absl::StatusOr<std::vector<Arrival>> ParseTraceFile(absl::string_view text,
                                                    absl::string_view source);

// A trace of exactly these arrivals (nondecreasing times), as a file trace reads them.
std::unique_ptr<ArrivalSource> ListTrace(std::vector<Arrival> arrivals);

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_TRACE_H_
