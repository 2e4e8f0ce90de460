// Fuzz target: the readers of ternserve-sim's --replay and --speed files (ParseScheduleLog,
// ParseSpeedFile) and of --speed specs (ParseSpeedSpec, without file:) on any text. A schedule log
// that parses must survive a write and re-parse unchanged; a speed file's points are in time
// order, and a speed model built from them answers in range.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "scheduler/schedule_log.h"
#include "scheduler/speed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ternserve::ScheduleLog> log = ternserve::ParseScheduleLog(text, "fuzz.log");
  if (log.ok()) {
    (void)log->attainment();
    const std::string saved = ternserve::ScheduleLogToText(*log);
    absl::StatusOr<ternserve::ScheduleLog> again = ternserve::ParseScheduleLog(saved, "saved");
    if (!again.ok() || ternserve::ScheduleLogToText(*again) != saved) std::abort();
  }
  absl::StatusOr<std::vector<std::pair<double, double>>> points =
      ternserve::ParseSpeedFile(text, "fuzz.speed");
  if (points.ok()) {
    for (size_t i = 1; i < points->size(); ++i) {
      if (!((*points)[i].first > (*points)[i - 1].first)) std::abort();
    }
  }
  if (!absl::StartsWith(text, "file:")) {  // no file system access from the fuzzer
    absl::StatusOr<ternserve::SpeedSpec> spec = ternserve::ParseSpeedSpec(text);
    if (spec.ok()) {
      ternserve::SpeedModel model(*spec, 1);
      for (double s : {0.0, 0.5, 1.0, 10.0, 1e3, 1e6}) {
        const double f = model.FactorAt(absl::Seconds(s));
        if (!(f >= 0.1 && f <= 100)) std::abort();
      }
    }
  }
  return 0;
}
