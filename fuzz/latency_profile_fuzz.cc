// Fuzz target: the latency profile parser (ParseLatencyProfile) on any text. A profile that
// parses is queried the way the policies and the simulator query it, and must survive a save and
// re-parse.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "scheduler/latency_profile.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ternserve::LatencyProfile> profile =
      ternserve::ParseLatencyProfile(text, "fuzz.profile.json");
  if (!profile.ok()) return 0;
  (void)profile->FastestIndex();
  (void)profile->MostAccurateIndex();
  const int max_batch = profile->MaxBatch();
  for (const ternserve::SubnetLatency& subnet : profile->subnets) {
    // Batches are at most 2^30, so these do not overflow an int.
    for (int batch : {1, 2, 3, max_batch, max_batch + 1, max_batch + max_batch / 2}) {
      if (batch < 1) continue;
      (void)ternserve::P50Us(subnet, batch);
      (void)ternserve::P99Us(subnet, batch);
    }
  }
  const std::string saved = ternserve::LatencyProfileToJson(*profile);
  if (!ternserve::ParseLatencyProfile(saved, "saved").ok()) std::abort();
  return 0;
}
