// Spec parameters. See spec_params.h.
#include "scheduler/spec_params.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ternserve {

absl::StatusOr<std::map<std::string, double>> ParseSpecParameters(
    absl::string_view kind, absl::string_view params, const std::vector<std::string>& keys) {
  std::map<std::string, double> values;
  for (absl::string_view pair : absl::StrSplit(params, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    const std::string key(kv.first);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown parameter '", key, "' for ", kind));
    }
    double value = 0;
    if (!absl::SimpleAtod(kv.second, &value) || !std::isfinite(value)) {
      return absl::InvalidArgumentError(absl::StrCat(key, "='", kv.second, "' is not a number"));
    }
    if (!values.emplace(key, value).second) {
      return absl::InvalidArgumentError(absl::StrCat(key, " given twice"));
    }
  }
  for (const std::string& key : keys) {
    if (values.count(key) == 0)
      return absl::InvalidArgumentError(absl::StrCat("missing ", key, "="));
  }
  return values;
}

}  // namespace ternserve
