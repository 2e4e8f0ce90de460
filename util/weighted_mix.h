// Weighted mixes of flag values, "v1:w1,v2:w2,...": ternserve-loadgen's --slo_mix and the
// --floor_mix of ternserve-sim and ternserve-loadgen. One parser, so that both flags take the same
// form and say the same things about a bad entry.
//
// Pure functions; thread-safe.
#ifndef TERNSERVE_UTIL_WEIGHTED_MIX_H_
#define TERNSERVE_UTIL_WEIGHTED_MIX_H_

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

struct WeightedValue {
  double value = 0;
  double weight = 0;  // > 0; the weights of a mix need not sum to 1
};

struct WeightedMixRules {
  std::string mix;       // names the spec in errors: "slo mix", "floor mix"
  std::string value;     // names a value: "SLO", "floor"
  std::string expected;  // the form, appended to every error: "S1:p1,S2:p2,... with ..."
  absl::FunctionRef<bool(double)> value_ok;  // a finite value this mix accepts
  int max_entries = 1 << 20;
  bool unique_values = false;  // refuse a value given twice
};

// INVALID_ARGUMENT "<mix> '<spec>': <what is wrong> (expected <expected>)" for an empty spec, an
// entry that is not value:weight, a value `value_ok` refuses (or not a finite number), a weight
// that is not a finite number > 0, a repeated value (unique_values), or too many entries.
absl::StatusOr<std::vector<WeightedValue>> ParseWeightedMix(absl::string_view spec,
                                                            const WeightedMixRules& rules);

}  // namespace ternserve

#endif  // TERNSERVE_UTIL_WEIGHTED_MIX_H_
