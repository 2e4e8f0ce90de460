// Accuracy-floor mixes (--floor_mix of ternserve-sim and ternserve-loadgen): which share of the
// requests asks for which accuracy floor (Task::min_accuracy), e.g. "0.90:0.3,0:0.7" = 30% of
// the requests need a sub-net of expected accuracy 0.90 or more, 70% take any.
//
// Pure functions; thread-compatible value types.
#ifndef TERNSERVE_SCHEDULER_FLOOR_MIX_H_
#define TERNSERVE_SCHEDULER_FLOOR_MIX_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

// One entry: requests get floor `min_accuracy` with probability `weight` / sum of weights.
struct FloorMixEntry {
  double min_accuracy = 0;  // in [0, 1]; 0: no floor
  double weight = 0;        // > 0
};

// At most this many entries, so that a request can name its entry in one byte.
inline constexpr int kMaxFloorMixEntries = 255;

// Parses "F1:w1,F2:w2,..." (floor in [0, 1], weight > 0; the weights need not sum to 1; each
// floor at most once). INVALID_ARGUMENT quotes the spec and names the bad entry.
absl::StatusOr<std::vector<FloorMixEntry>> ParseFloorMix(absl::string_view spec);

// Draws entries of a mix: deterministic for a seed (std::mt19937_64 and libstdc++'s
// discrete_distribution), on a stream of its own, so that adding a mix changes no other draw.
class FloorMixSampler {
 public:
  // `mix` must be valid (ParseFloorMix's rules); empty: every draw is -1 (no floor).
  FloorMixSampler(const std::vector<FloorMixEntry>& mix, uint64_t seed);
  // The index of the next request's entry in the mix, or -1 for an empty mix.
  int Next();

 private:
  bool empty_;
  std::mt19937_64 rng_;
  std::discrete_distribution<int> pick_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_FLOOR_MIX_H_
