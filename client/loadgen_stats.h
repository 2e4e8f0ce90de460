// The load generator's statistics: the report of a finished run (a pure function of the request
// records), its JSON and text forms, and a lock-free running latency histogram for the progress
// line.
#ifndef TERNSERVE_CLIENT_LOADGEN_STATS_H_
#define TERNSERVE_CLIENT_LOADGEN_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "client/loadgen_plan.h"
#include "nlohmann/json.hpp"

namespace ternserve {

// What a run knew besides its records.
struct RunInfo {
  std::string server;    // the --server target
  int max_attempts = 1;  // attempts of one call (1: no retries)
  // The replicas that answered, by gRPC peer address; RequestRecord::backend - 1 indexes it.
  std::vector<std::string> backends;
  int64_t start_unix_ms = 0;  // wall-clock time of the run's start (sent_ms 0 of the records)
  std::string trace;          // the --trace spec
  int connections = 0;
  std::string mode = "unary";     // "unary" (a call per request) or "stream" (one per connection)
  std::string api = "ternserve";  // "ternserve" or "oip" (LoadgenApiName)
  int64_t planned = 0;            // arrivals in the trace (sent may be fewer after SIGINT)
  double trace_duration_s = 0;    // the spec's duration, or a file trace's last arrival
  double max_send_lag_ms = 0;     // worst lateness of a send behind its trace arrival
  // The floors of --floor_mix; RequestRecord::floor - 1 indexes it. Empty: no floors.
  std::vector<double> floors;
};

// The requests of one accuracy floor (--floor_mix).
struct FloorShare {
  double min_accuracy = 0;
  int64_t sent = 0;
  int64_t ok = 0;
  int64_t met_slo = 0;  // ok within its SLO
  // Refused for the floor: OUT_OF_RANGE (no sub-net that accurate) and DEADLINE_EXCEEDED (none
  // that accurate in time, or any other miss of the deadline).
  int64_t out_of_range = 0;
  int64_t deadline_exceeded = 0;
  // OK answers whose sub-net's expected accuracy is below the floor: must be 0.
  int64_t violations = 0;
  double min_served_accuracy = 0;  // the lowest expected accuracy of its ok answers; 0: none
};

// The requests of one replica: those whose answer (or failure) came from it.
struct BackendShare {
  std::string address;
  int64_t answered = 0;
  int64_t ok = 0;
};

// Outcome of a run. "ok" means the RPC returned status OK; latencies are client-observed (call
// issued -> completion callback), over ok requests.
struct LoadgenReport {
  RunInfo info;
  int64_t sent = 0;
  int64_t ok = 0;
  std::map<std::string, int64_t> errors_by_code;  // gRPC code name -> count; NO_RESPONSE if lost
  // Of the DEADLINE_EXCEEDED, those the client answered itself: stream messages whose SLO ran out
  // before they could be written (loadgen_rpc.cc), which the server never saw.
  int64_t expired_in_client = 0;
  double slo_attainment = 0;     // ok and latency <= its SLO, over sent
  double measured_accuracy = 0;  // top-1 == label, over ok
  double expected_accuracy = 0;  // mean of the server's claimed sub-net accuracy, over ok
  double p50_ms = 0, p90_ms = 0, p99_ms = 0;
  double throughput_rps = 0;         // ok / (last completion - first send)
  double offered_rps = 0;            // planned / trace_duration_s
  double duration_s = 0;             // first send -> last completion
  std::map<int, double> subnet_mix;  // sub-net id -> fraction of ok
  // The server's queue and compute time (both APIs' answers carry them), over ok.
  double server_queue_p50_ms = 0;
  double server_compute_p50_ms = 0;
  double server_deadline_met = 0;  // fraction of ok with deadline_met
  // Time outside the server: client latency minus the queue and compute time the server reported
  // (the loopback or network round trip, both gRPC stacks, and waits for a CPU), over ok.
  double outside_p50_ms = 0, outside_p99_ms = 0;
  // Per replica, in RunInfo::backends order; requests that reached none are in no share.
  std::vector<BackendShare> backends;
  // Per floor of RunInfo::floors, in its order; empty without --floor_mix.
  std::vector<FloorShare> floors;
  int64_t floor_violations = 0;  // summed over `floors`
};

// Nearest-rank percentile (q in [0, 1]) of `values`, which it sorts. 0 when empty.
double Percentile(std::vector<double>* values, double q);

// Summarizes the records of the requests that were sent (every record must have sent_ns set).
LoadgenReport Summarize(absl::Span<const RequestRecord> records, const RunInfo& info);

// Writes one CSV line per sent request, after a header: arrival_ms, sent_ms, done_ms (times since
// the start of the run), slo_ms, code (gRPC code; -1: no answer), deadline_met (the server's
// word, 0 or 1), expired_in_client (1: the client's own DEADLINE_EXCEEDED), backend (the replica
// that answered, from `backends`; empty when none did). Errors name the file.
absl::Status WriteRecordsCsv(absl::Span<const RequestRecord> records,
                             absl::Span<const std::string> backends, const std::string& path);

nlohmann::ordered_json ReportToJson(const LoadgenReport& report);
std::string ReportToText(const LoadgenReport& report);

// Latency histogram with ~6% wide log-linear buckets (16 per power of two of µs) up to hours.
// Thread-safe and lock-free: Record from any thread, Quantile concurrently (a consistent-enough
// snapshot for a progress line; the final report uses the exact records).
class LatencyHistogram {
 public:
  void Record(int64_t latency_ns);
  // Upper bound of the bucket holding the q-quantile, in ms; 0 when empty.
  double QuantileMs(double q) const;

  static int BucketOf(uint64_t us);
  static uint64_t BucketLowerUs(int bucket);

 private:
  // Up to 2^63 µs; the last bucket's upper bound still fits in 64 bits.
  static constexpr int kBuckets = 60 * 16;
  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
};

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_LOADGEN_STATS_H_
