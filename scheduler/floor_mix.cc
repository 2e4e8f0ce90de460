// Accuracy-floor mixes. See floor_mix.h.
#include "scheduler/floor_mix.h"

#include "util/weighted_mix.h"

namespace ternserve {

absl::StatusOr<std::vector<FloorMixEntry>> ParseFloorMix(absl::string_view spec) {
  const auto in_unit_interval = [](double floor) { return floor >= 0 && floor <= 1; };
  absl::StatusOr<std::vector<WeightedValue>> parsed = ParseWeightedMix(
      spec, {"floor mix", "floor", "F1:w1,F2:w2,... with each floor F in [0, 1] and weight w > 0",
             in_unit_interval, kMaxFloorMixEntries, /*unique_values=*/true});
  if (!parsed.ok()) return parsed.status();
  std::vector<FloorMixEntry> mix;
  for (const WeightedValue& e : *parsed) mix.push_back({e.value, e.weight});
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
