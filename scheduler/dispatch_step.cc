// LateMode parsing. See dispatch_step.h.
#include "scheduler/dispatch_step.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ternserve {

absl::StatusOr<LateMode> ParseLateMode(absl::string_view text) {
  if (text == "drop") return LateMode::kDrop;
  if (text == "serve") return LateMode::kServe;
  return absl::InvalidArgumentError(
      absl::StrCat("late mode '", text, "' is not one of: drop, serve"));
}

absl::Status AdmitFloor(const Policy& policy, double floor, absl::Time deadline, absl::Time now) {
  if (floor <= 0) return absl::OkStatus();
  const FloorTier* tier = policy.TierFor(floor);
  if (tier == nullptr) {
    if (policy.floor_tiers().empty()) {
      return absl::OutOfRangeError(
          absl::StrCat("min_accuracy ", floor, " cannot be honoured: the policy ", policy.name(),
                       " knows no sub-net's accuracy (no latency profile)"));
    }
    const FloorTier& best = policy.floor_tiers().back();
    return absl::OutOfRangeError(
        absl::StrCat("min_accuracy ", floor,
                     " is above every sub-net this server runs: the most accurate, "
                     "sub-net ",
                     best.subnet_id, ", has expected accuracy ", best.accuracy, " (policy ",
                     policy.name(), ")"));
  }
  const HopelessRule rule = policy.ScaledHopelessRule();
  if (!HopelessForFloorAlone(policy, rule, floor, deadline, now)) return absl::OkStatus();
  const absl::Duration need = policy.MinLatencyForFloor(floor) + rule.overhead;
  return absl::DeadlineExceededError(absl::StrCat(
      "min_accuracy ", floor,
      " cannot be met before the deadline: the fastest sub-net at or above "
      "it, sub-net ",
      tier->fastest_id, ", needs ", absl::FormatDuration(need), " at batch 1 and ",
      absl::FormatDuration(std::max(absl::ZeroDuration(), deadline - now)), " are left"));
}

bool HopelessForFloorAlone(const Policy& policy, const HopelessRule& rule, double min_accuracy,
                           absl::Time deadline, absl::Time now) {
  return min_accuracy > 0 && !rule.IsHopeless(deadline, now) &&
         deadline - now - rule.overhead < policy.MinLatencyForFloor(min_accuracy);
}

}  // namespace ternserve
