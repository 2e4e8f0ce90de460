// ServerMetrics: the server's Prometheus metrics (names, types and labels as in
// docs/architecture.md "Metrics"). It is the DispatcherObserver the dispatcher reports to (queue
// depth, batches), and the RequestSubmitter tells it how every request of either API was answered.
//
//   ternserve_requests_received_total        every Classify / ModelInfer request read off the
//                                            wire, on arrival (before validation), and every call
//                                            refused UNAUTHENTICATED; minus requests_total, the
//                                            requests in flight
//   ternserve_requests_total{code}           every Classify / ModelInfer request (unary or
//                                            stream) and every call refused UNAUTHENTICATED, by
//                                            the gRPC code name of its answer, counted once when
//                                            the answer is produced
//   ternserve_request_duration_seconds       arrival -> answer, requests the dispatcher accepted
//   ternserve_queue_duration_seconds         arrival -> batch start (or drop), same requests
//   ternserve_compute_duration_seconds{subnet}  per batch
//   ternserve_slo_total{outcome}             every request that passed validation, exactly once:
//       met      answered OK by its deadline;
//       missed   it ran, but was answered late (e.g. --late=serve) or with an error (engine);
//       dropped  it never ran: DEADLINE_EXCEEDED by the hopeless rule, RESOURCE_EXHAUSTED (queue
//                full) or UNAVAILABLE (shutting down, or still queued when --drain_timeout
//                passed);
//       cancelled  it never ran: CANCELLED, its client cancelled it (or its gRPC deadline
//                passed) while it was queued, and it was taken out of the queue.
//   ternserve_subnet_requests_total{subnet}  requests run per sub-net (+batch size per batch)
//   ternserve_batch_size                     per batch
//   ternserve_queue_depth                    requests waiting in the dispatcher's queue
//   ternserve_latency_model_ratio            the policy's latency scale (scheduler/
//                                            latency_model.h): measured / profiled compute time
//                                            as the policy plans with it; 1 = as profiled
//   ternserve_served_accuracy                expected (bundle test) accuracy of each OK answer
//   ternserve_floor_refusals_total{reason}   requests refused for their accuracy floor
//                                            (min_accuracy): above_model (OUT_OF_RANGE: no
//                                            sub-net is that accurate) or deadline
//                                            (DEADLINE_EXCEEDED: the sub-nets that are cannot
//                                            finish it in time), at arrival or from the queue
//   ternserve_floor_headroom                 served accuracy minus the floor, per OK answer to a
//                                            request with a floor (>= 0 when floors are honoured)
//   ternserve_floor_violations_total         OK answers served below their floor (never, unless
//                                            a bug: an alert's target)
//   ternserve_build_info{version,policy,engine,isa}  always 1
//   ternserve_model_generation               1 for the bundle served at start-up, +1 per reload
//   ternserve_model_reloads_total{result}    reloads (SIGHUP): ok, or refused (the old bundle
//                                            stays)
//
// Ownership: the metrics live in the Registry passed in, which must outlive this object; the
// server owns both. Every code and outcome child is created in the constructor, and each
// sub-net's when its bundle is loaded (the constructor, OnModelLoaded), so recording is a lookup
// (the sub-net table under a reader lock, which a reload alone writes) plus prometheus-cpp's own
// update (an atomic for counters and gauges, a short mutex for histograms). Thread-safe.
//
// Only this file's .cc, server.cc (which owns the registry) and server/metrics_endpoint.cc (which
// serves it, GET /metrics) include prometheus headers.
#ifndef TERNSERVE_SERVER_METRICS_H_
#define TERNSERVE_SERVER_METRICS_H_

#include <array>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "models/bundle.h"
#include "scheduler/dispatcher_observer.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace ternserve {

// The labels of ternserve_build_info.
struct BuildInfo {
  std::string version;
  std::string policy;  // the policy spec served, e.g. "slackfit" or "fixed:3"
  std::string engine;  // "ternary" or "torch"
  std::string isa;     // the ternary kernel variant; "none" for other engines
};

// ternserve_slo_total's outcome label (see the file comment).
enum class SloOutcome { kMet, kMissed, kDropped, kCancelled };
// `ran`: the request was part of a batch.
SloOutcome ClassifySlo(absl::StatusCode code, bool ran, bool deadline_met);

// How a request the dispatcher accepted was answered.
struct CompletedRequest {
  absl::StatusCode code = absl::StatusCode::kOk;  // the answer's final status
  bool ran = false;                               // part of a batch (not dropped as hopeless)
  bool deadline_met = false;
  int subnet_id = -1;  // the sub-net that ran it, when ran
  // That sub-net's expected (bundle test) accuracy, from the bundle that ran it; < 0: unknown,
  // looked up in the sub-nets loaded so far.
  double served_accuracy = -1;
  double min_accuracy = 0;         // the request's accuracy floor; 0: none
  bool refused_for_floor = false;  // never ran because of its floor (TaskOutcome)
  absl::Duration queue_time;       // arrival -> batch start (or drop)
  absl::Duration request_time;     // arrival -> answer
};

// The latency buckets (seconds) of every duration histogram: log-spaced, 0.1 ms .. ~1.1 s.
const std::vector<double>& LatencyBucketsSeconds();

// One histogram's values as /metrics shows them: cumulative counts per upper bound, the last
// bound +Inf.
struct HistogramValues {
  std::vector<double> upper_bounds;
  std::vector<double> cumulative_counts;
  double sum = 0;
  double count = 0;
};

// The values the status page charts (server/status_sampler.h), read from the very metric objects
// /metrics serializes, so that the page and a scrape cannot disagree.
struct MetricsSnapshot {
  static constexpr int kCodes = 17;               // google.rpc.Code 0 (OK) .. 16
  std::array<double, kCodes> requests_by_code{};  // index: absl::StatusCode
  std::array<double, 4> slo_by_outcome{};         // index: SloOutcome
  std::map<int, double> subnet_requests;          // sub-net id -> requests run
  HistogramValues request_seconds;
  HistogramValues batch_size;
  HistogramValues served_accuracy;
  double queue_depth = 0;
};

class ServerMetrics final : public DispatcherObserver {
 public:
  // Registers every family in `registry`, with one child per sub-net of `metadata`.
  ServerMetrics(prometheus::Registry& registry, const BundleMetadata& metadata,
                const BuildInfo& build_info);

  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  // DispatcherObserver.
  void OnQueueDepth(int depth) override;
  void OnBatchDone(int subnet_id, int batch_size, absl::Duration compute_time) override;
  void OnLatencyScale(double scale) override;

  // A request was read off the wire (before validation). Every received request later gets
  // exactly one of OnInvalid, OnNotQueued and OnCompleted.
  void OnReceived();
  // Answered without reaching the dispatcher because validation failed: counted in requests_total
  // only (not an SLO outcome).
  void OnInvalid(absl::StatusCode code);
  // Passed validation, but the dispatcher refused it at Enqueue (queue full, shutting down,
  // already cancelled, or `refused_for_floor`: its accuracy floor cannot be met): requests_total,
  // slo dropped (cancelled), and floor_refusals.
  void OnNotQueued(absl::StatusCode code, bool refused_for_floor = false);
  // Accepted by the dispatcher and now answered.
  void OnCompleted(const CompletedRequest& request);

  // A reload swapped in `metadata`'s bundle as model `generation`: its sub-nets get their
  // children (those already known keep theirs; their accuracy becomes the new bundle's).
  void OnModelLoaded(const BundleMetadata& metadata, int generation);
  // A reload was refused; the old bundle stays.
  void OnReloadRefused();

  // The current values of the metrics the status page charts. Thread-safe; each value is read
  // atomically, the set of them is not one instant (as in a scrape).
  MetricsSnapshot Snapshot() const;

 private:
  struct SubnetMetrics {
    prometheus::Counter* requests = nullptr;
    prometheus::Histogram* compute_seconds = nullptr;
    double test_accuracy = 0;
  };
  static constexpr int kCodes = 17;  // google.rpc.Code 0 (OK) .. 16 (UNAUTHENTICATED)

  void CountCode(absl::StatusCode code);
  // A floor refusal answered `code`: OUT_OF_RANGE is above_model, anything else deadline.
  void CountFloorRefusal(absl::StatusCode code);
  void CountSlo(SloOutcome outcome);
  void AddSubnets(const BundleMetadata& metadata) ABSL_EXCLUSIVE_LOCKS_REQUIRED(subnets_mu_);

  // Constant after construction (the pointees are prometheus-cpp metrics, themselves
  // thread-safe).
  prometheus::Counter* received_ = nullptr;
  std::array<prometheus::Counter*, kCodes> requests_by_code_{};
  std::array<prometheus::Counter*, 4> slo_by_outcome_{};
  prometheus::Histogram* request_seconds_ = nullptr;
  prometheus::Histogram* queue_seconds_ = nullptr;
  prometheus::Histogram* batch_size_ = nullptr;
  prometheus::Histogram* served_accuracy_ = nullptr;
  prometheus::Counter* floor_refused_above_ = nullptr;
  prometheus::Counter* floor_refused_deadline_ = nullptr;
  prometheus::Histogram* floor_headroom_ = nullptr;
  prometheus::Counter* floor_violations_ = nullptr;
  prometheus::Gauge* queue_depth_ = nullptr;
  prometheus::Gauge* latency_scale_ = nullptr;
  prometheus::Gauge* model_generation_ = nullptr;
  prometheus::Counter* reloads_ok_ = nullptr;
  prometheus::Counter* reloads_refused_ = nullptr;
  prometheus::Family<prometheus::Counter>* subnet_requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* compute_seconds_ = nullptr;

  mutable absl::Mutex subnets_mu_;
  std::unordered_map<int, SubnetMetrics> subnets_ ABSL_GUARDED_BY(subnets_mu_);
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_METRICS_H_
