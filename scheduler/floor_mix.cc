// Accuracy-floor mixes. See floor_mix.h.
#include "scheduler/floor_mix.h"

#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ternserve {

absl::StatusOr<std::vector<FloorMixEntry>> ParseFloorMix(absl::string_view spec) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("floor mix '", spec, "': ", why,
                                                   " (expected F1:w1,F2:w2,... with each floor "
                                                   "F in [0, 1] and weight w > 0)"));
  };
  if (spec.empty()) return bad("empty");
  std::vector<FloorMixEntry> mix;
  for (absl::string_view entry : absl::StrSplit(spec, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(entry, ':');
    if (parts.size() != 2) return bad(absl::StrCat("entry '", entry, "' is not floor:weight"));
    FloorMixEntry e;
    if (!absl::SimpleAtod(parts[0], &e.min_accuracy) || !std::isfinite(e.min_accuracy) ||
        e.min_accuracy < 0 || e.min_accuracy > 1) {
      return bad(absl::StrCat("bad floor '", parts[0], "' in '", entry, "'"));
    }
    if (!absl::SimpleAtod(parts[1], &e.weight) || !std::isfinite(e.weight) || !(e.weight > 0)) {
      return bad(absl::StrCat("bad weight '", parts[1], "' in '", entry, "'"));
    }
    for (const FloorMixEntry& seen : mix) {
      if (seen.min_accuracy == e.min_accuracy) {
        return bad(absl::StrCat("floor ", e.min_accuracy, " is given twice"));
      }
    }
    mix.push_back(e);
    if (static_cast<int>(mix.size()) > kMaxFloorMixEntries) {
      return bad(absl::StrCat("more than ", kMaxFloorMixEntries, " entries"));
    }
  }
  return mix;
}

namespace {

std::vector<double> Weights(const std::vector<FloorMixEntry>& mix) {
  std::vector<double> weights;
  for (const FloorMixEntry& e : mix) weights.push_back(e.weight);
  return weights;
}

}  // namespace

FloorMixSampler::FloorMixSampler(const std::vector<FloorMixEntry>& mix, uint64_t seed)
    : empty_(mix.empty()), rng_(seed * 0x9E3779B97F4A7C15ull + 3) {
  const std::vector<double> weights = Weights(mix);
  pick_ = std::discrete_distribution<int>(weights.begin(), weights.end());
}

int FloorMixSampler::Next() { return empty_ ? -1 : pick_(rng_); }

}  // namespace ternserve
