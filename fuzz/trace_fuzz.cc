// Fuzz target: the trace file parser (ParseTraceFile) and the trace spec parser (ParseTraceSpec,
// what --trace takes) on any text. A file's arrivals must come in nondecreasing time.
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
  // A spec opens only its own arrival process (never a file here) and takes few of its arrivals.
  absl::StatusOr<ternserve::TraceSpec> spec = ternserve::ParseTraceSpec(text);
  if (spec.ok() && spec->kind != ternserve::TraceSpec::Kind::kFile) {
    auto source = ternserve::OpenTrace(*spec, /*seed=*/1);
    if (!source.ok()) std::abort();
    ternserve::Arrival arrival;
    for (int i = 0; i < 64 && (*source)->Next(&arrival); ++i) {
    }
  }
  return 0;
}
