// Weighted mixes of flag values. See weighted_mix.h.
#include "util/weighted_mix.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ternserve {

absl::StatusOr<std::vector<WeightedValue>> ParseWeightedMix(absl::string_view spec,
                                                            const WeightedMixRules& rules) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(
        absl::StrCat(rules.mix, " '", spec, "': ", why, " (expected ", rules.expected, ")"));
  };
  if (spec.empty()) return bad("empty");
  std::vector<WeightedValue> mix;
  for (absl::string_view entry : absl::StrSplit(spec, ',')) {
    std::vector<absl::string_view> parts = absl::StrSplit(entry, ':');
    if (parts.size() != 2) {
      return bad(absl::StrCat("entry '", entry, "' is not ", rules.value, ":weight"));
    }
    WeightedValue e;
    if (!absl::SimpleAtod(parts[0], &e.value) || !std::isfinite(e.value) ||
        !rules.value_ok(e.value)) {
      return bad(absl::StrCat("bad ", rules.value, " '", parts[0], "' in '", entry, "'"));
    }
    if (!absl::SimpleAtod(parts[1], &e.weight) || !std::isfinite(e.weight) || !(e.weight > 0)) {
      return bad(absl::StrCat("bad weight '", parts[1], "' in '", entry, "'"));
    }
    if (rules.unique_values) {
      for (const WeightedValue& seen : mix) {
        if (seen.value == e.value) {
          return bad(absl::StrCat(rules.value, " ", e.value, " is given twice"));
        }
      }
    }
    mix.push_back(e);
    if (static_cast<int>(mix.size()) > rules.max_entries) {
      return bad(absl::StrCat("more than ", rules.max_entries, " entries"));
    }
  }
  return mix;
}

}  // namespace ternserve
