// StatusJson: the document GET /status.json serves and the status page (web/status/) draws: the
// server and the model it serves now (sub-nets with MACs and accuracy, the policy), the totals of
// the last sample and, per second over the last few minutes, the StatusSampler's points as
// column arrays (docs/architecture.md "Status page" lists every field).
//
// It holds counts, rates, latencies and the model's description only: no token, no request
// content, nothing a client sent. A pure function of its arguments; thread-compatible.
#ifndef TERNSERVE_SERVER_STATUS_JSON_H_
#define TERNSERVE_SERVER_STATUS_JSON_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "server/metrics.h"
#include "server/served_model.h"
#include "server/status_sampler.h"

namespace ternserve {

// What the status page says about the server beside the model (constant while it runs).
struct StatusServerInfo {
  std::string version;
  std::string engine;  // "ternary", "cuda", ...
  std::string isa;     // the kernel variant; "none" for other engines
  int workers = 0;
  int max_batch = 0;
  double default_slo_ms = 0;
};

// `latest` is the sampler's last snapshot (taken at `latest_time`), nullopt before the first.
std::string StatusJson(const StatusServerInfo& server, const ServedModel& model,
                       const std::vector<StatusPoint>& points,
                       const std::optional<MetricsSnapshot>& latest, absl::Time latest_time);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_STATUS_JSON_H_
