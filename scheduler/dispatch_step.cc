// LateMode parsing. See dispatch_step.h.
#include "scheduler/dispatch_step.h"

#include "absl/strings/str_cat.h"

namespace ternserve {

absl::StatusOr<LateMode> ParseLateMode(absl::string_view text) {
  if (text == "drop") return LateMode::kDrop;
  if (text == "serve") return LateMode::kServe;
  return absl::InvalidArgumentError(
      absl::StrCat("late mode '", text, "' is not one of: drop, serve"));
}

}  // namespace ternserve
