// Fuzz target: the trace file parser (ParseTraceFile) and the trace spec parser (ParseTraceSpec,
// what --trace takes) on any text. Arrivals, of a file or of a small spec's process, must come in
// nondecreasing time (and within the spec's duration).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "scheduler/trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<ternserve::Arrival>> arrivals =
      ternserve::ParseTraceFile(text, "fuzz.trace");
  if (arrivals.ok()) {
    for (size_t i = 1; i < arrivals->size(); ++i) {
      if ((*arrivals)[i].time < (*arrivals)[i - 1].time) std::abort();
    }
  }
  // A spec's process is drained whole when it is small: thinning (ramp) draws at most the peak
  // rate times the duration, under twice the arrivals it keeps, but its first arrivals of a steep
  // ramp from ~0 can take that many draws each, so a bound on the first N arrivals is no bound.
  absl::StatusOr<ternserve::TraceSpec> spec = ternserve::ParseTraceSpec(text);
  if (spec.ok() && spec->kind != ternserve::TraceSpec::Kind::kFile) {
    const double peak = std::max({spec->rate, spec->from, spec->to, spec->calm, spec->burst});
    if (peak * spec->duration_s > 1e5) return 0;
    // mmpp also steps once per state switch: about duration / the shorter mean visit of them.
    if (spec->kind == ternserve::TraceSpec::Kind::kMmpp &&
        spec->duration_s / std::min(spec->calm_s, spec->burst_s) > 1e5) {
      return 0;
    }
    auto source = ternserve::OpenTrace(*spec, /*seed=*/1);
    if (!source.ok()) std::abort();
    const absl::Duration duration = absl::Seconds(spec->duration_s);
    ternserve::Arrival arrival, previous;
    for (bool first = true; (*source)->Next(&arrival); first = false) {
      if (arrival.time > duration || (!first && arrival.time < previous.time)) std::abort();
      previous = arrival;
    }
  }
  return 0;
}
