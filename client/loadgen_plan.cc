// Request plan of the load generator. See loadgen_plan.h.
#include "client/loadgen_plan.h"

#include <cmath>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "util/weighted_mix.h"

namespace ternserve {

absl::StatusOr<std::vector<SloMixEntry>> ParseSloMix(absl::string_view spec) {
  const auto valid_slo = [](double slo_ms) { return slo_ms > 0 && slo_ms <= 3.6e6; };
  absl::StatusOr<std::vector<WeightedValue>> parsed = ParseWeightedMix(
      spec, {"slo mix", "SLO", "S1:p1,S2:p2,... with SLO ms > 0 and weight > 0", valid_slo});
  if (!parsed.ok()) return parsed.status();
  std::vector<SloMixEntry> mix;
  for (const WeightedValue& e : *parsed) mix.push_back({e.value, e.weight});
  return mix;
}

absl::StatusOr<std::vector<RequestRecord>> PlanRequests(ArrivalSource* trace,
                                                        const PlanOptions& options) {
  if (options.slo_mix.empty()) return absl::InvalidArgumentError("no SLO given");
  if (options.image_count < 1) return absl::InvalidArgumentError("no images");
  std::vector<double> weights;
  for (const SloMixEntry& e : options.slo_mix) {
    if (!(e.slo_ms > 0) || !(e.weight > 0)) {
      return absl::InvalidArgumentError("SLOs and weights must be > 0");
    }
    weights.push_back(e.weight);
  }
  // Own streams for SLOs and images, so that changing the mix does not change the images drawn.
  std::mt19937_64 slo_rng(options.seed * 0x9E3779B97F4A7C15ull + 1);
  std::mt19937_64 image_rng(options.seed * 0x9E3779B97F4A7C15ull + 2);
  std::discrete_distribution<int> pick_slo(weights.begin(), weights.end());
  std::uniform_int_distribution<int64_t> pick_image(0, options.image_count - 1);

  if (static_cast<int>(options.floor_mix.size()) > kMaxFloorMixEntries) {
    return absl::InvalidArgumentError("too many floors in the mix");
  }
  FloorMixSampler floors(options.floor_mix, options.seed);
  std::vector<RequestRecord> records;
  Arrival arrival;
  while (trace->Next(&arrival)) {
    if (static_cast<int64_t>(records.size()) >= options.max_requests) {
      return absl::InvalidArgumentError(
          absl::StrCat("the trace has more than ", options.max_requests, " arrivals"));
    }
    RequestRecord r;
    r.arrival_ns = absl::ToInt64Nanoseconds(arrival.time);
    const double mixed_slo_ms = options.slo_mix[pick_slo(slo_rng)].slo_ms;
    r.slo_ms = static_cast<float>(arrival.slo > absl::ZeroDuration()
                                      ? absl::ToDoubleMilliseconds(arrival.slo)
                                      : mixed_slo_ms);
    r.image = static_cast<int32_t>(pick_image(image_rng));
    r.floor = static_cast<uint8_t>(floors.Next() + 1);
    records.push_back(r);
  }
  return records;
}

}  // namespace ternserve
