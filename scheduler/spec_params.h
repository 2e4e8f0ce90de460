// The "key=value,key=value" part of a spec string ("gamma:rate=2000,cv2=4,duration=60",
// "step:at=30,factor=1.5"), shared by the trace specs (trace.h) and the speed specs (speed.h).
#ifndef TERNSERVE_SCHEDULER_SPEC_PARAMS_H_
#define TERNSERVE_SCHEDULER_SPEC_PARAMS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

// The values of `params` (empty entries skipped), which must name each of `keys` exactly once and
// nothing else, each a finite number. INVALID_ARGUMENT with the bare problem ("unknown parameter
// 'x' for <kind>", "x='abc' is not a number", "x given twice", "missing x="), for the caller to
// prefix with the spec.
absl::StatusOr<std::map<std::string, double>> ParseSpecParameters(
    absl::string_view kind, absl::string_view params, const std::vector<std::string>& keys);

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_SPEC_PARAMS_H_
