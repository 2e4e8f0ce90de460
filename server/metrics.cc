// The server's Prometheus metrics. See metrics.h.
#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cmath>

namespace ternserve {
namespace {

// Rounds to 3 significant digits, so bucket labels read le="0.000338", not a float's tail.
double RoundSignificant(double x) {
  const double scale = std::pow(10.0, std::floor(std::log10(x)) - 2);
  return std::round(x / scale) * scale;
}

std::vector<double> ExponentialBuckets(double first, double factor, int count) {
  std::vector<double> buckets;
  double bound = first;
  for (int i = 0; i < count; ++i, bound *= factor) buckets.push_back(RoundSignificant(bound));
  return buckets;
}

// 1, 2, 4, ... 4096: --max_batch is at most 4096.
std::vector<double> BatchSizeBuckets() {
  std::vector<double> buckets;
  for (int size = 1; size <= 4096; size *= 2) buckets.push_back(size);
  return buckets;
}

// Sub-nets of a trained SuperNet sit between ~0.8 and ~0.95 on Fashion-MNIST: fine steps there,
// coarse ones below.
std::vector<double> AccuracyBuckets() {
  return {0.5,  0.6,  0.7,  0.75, 0.8,  0.81, 0.82, 0.83, 0.84, 0.85, 0.86,
          0.87, 0.88, 0.89, 0.9,  0.91, 0.92, 0.93, 0.94, 0.95, 0.97, 1.0};
}

// Served accuracy minus the floor: fine steps near 0, where a floor just met lands.
std::vector<double> HeadroomBuckets() {
  return {0, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0};
}

const char* OutcomeName(SloOutcome outcome) {
  switch (outcome) {
    case SloOutcome::kMet:
      return "met";
    case SloOutcome::kMissed:
      return "missed";
    case SloOutcome::kDropped:
      return "dropped";
    case SloOutcome::kCancelled:
      return "cancelled";
  }
  return "missed";
}

HistogramValues ValuesOf(const prometheus::Histogram& histogram) {
  const prometheus::ClientMetric metric = histogram.Collect();
  HistogramValues values;
  values.sum = metric.histogram.sample_sum;
  values.count = static_cast<double>(metric.histogram.sample_count);
  for (const prometheus::ClientMetric::Bucket& bucket : metric.histogram.bucket) {
    values.upper_bounds.push_back(bucket.upper_bound);
    values.cumulative_counts.push_back(static_cast<double>(bucket.cumulative_count));
  }
  return values;
}

}  // namespace

const std::vector<double>& LatencyBucketsSeconds() {
  // 0.1 ms * 1.5^k, k = 0..23: 24 boundaries up to ~1.12 s.
  static const auto* buckets = new std::vector<double>(ExponentialBuckets(1e-4, 1.5, 24));
  return *buckets;
}

SloOutcome ClassifySlo(absl::StatusCode code, bool ran, bool deadline_met) {
  if (!ran)
    return code == absl::StatusCode::kCancelled ? SloOutcome::kCancelled : SloOutcome::kDropped;
  return code == absl::StatusCode::kOk && deadline_met ? SloOutcome::kMet : SloOutcome::kMissed;
}

ServerMetrics::ServerMetrics(prometheus::Registry& registry, const BundleMetadata& metadata,
                             const BuildInfo& build_info) {
  received_ = &prometheus::BuildCounter()
                   .Name("ternserve_requests_received_total")
                   .Help(
                       "Classify requests (unary calls and stream messages) read off the wire, "
                       "counted on arrival; minus ternserve_requests_total, those in flight.")
                   .Register(registry)
                   .Add({});
  auto& requests = prometheus::BuildCounter()
                       .Name("ternserve_requests_total")
                       .Help(
                           "Classify requests (unary calls and stream messages) by the gRPC "
                           "status code of their answer.")
                       .Register(registry);
  for (int code = 0; code < kCodes; ++code) {
    requests_by_code_[static_cast<size_t>(code)] =
        &requests.Add({{"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}});
  }

  auto& slo = prometheus::BuildCounter()
                  .Name("ternserve_slo_total")
                  .Help(
                      "Validated requests by SLO outcome: met (OK by the deadline), missed (ran, "
                      "but late or failed), dropped (never ran: hopeless, queue full or "
                      "shutting down), cancelled (never ran: the client cancelled, or its gRPC "
                      "deadline passed, while it was queued).")
                  .Register(registry);
  for (SloOutcome outcome :
       {SloOutcome::kMet, SloOutcome::kMissed, SloOutcome::kDropped, SloOutcome::kCancelled}) {
    slo_by_outcome_[static_cast<size_t>(outcome)] = &slo.Add({{"outcome", OutcomeName(outcome)}});
  }

  request_seconds_ = &prometheus::BuildHistogram()
                          .Name("ternserve_request_duration_seconds")
                          .Help("Arrival to answer, for requests the dispatcher accepted.")
                          .Register(registry)
                          .Add({}, LatencyBucketsSeconds());
  queue_seconds_ = &prometheus::BuildHistogram()
                        .Name("ternserve_queue_duration_seconds")
                        .Help("Time each accepted request waited in the queue.")
                        .Register(registry)
                        .Add({}, LatencyBucketsSeconds());
  batch_size_ = &prometheus::BuildHistogram()
                     .Name("ternserve_batch_size")
                     .Help("Requests per batch run.")
                     .Register(registry)
                     .Add({}, BatchSizeBuckets());
  served_accuracy_ = &prometheus::BuildHistogram()
                          .Name("ternserve_served_accuracy")
                          .Help(
                              "Expected accuracy (the bundle's test accuracy of the sub-net "
                              "that answered) of each OK answer.")
                          .Register(registry)
                          .Add({}, AccuracyBuckets());
  auto& floor_refusals =
      prometheus::BuildCounter()
          .Name("ternserve_floor_refusals_total")
          .Help(
              "Requests refused for their accuracy floor (min_accuracy), by reason: above_model "
              "(OUT_OF_RANGE: no sub-net is that accurate), deadline (DEADLINE_EXCEEDED: the "
              "sub-nets that are cannot finish it before its deadline).")
          .Register(registry);
  floor_refused_above_ = &floor_refusals.Add({{"reason", "above_model"}});
  floor_refused_deadline_ = &floor_refusals.Add({{"reason", "deadline"}});
  floor_headroom_ = &prometheus::BuildHistogram()
                         .Name("ternserve_floor_headroom")
                         .Help(
                             "Expected accuracy of the sub-net that answered minus the request's "
                             "accuracy floor, for each OK answer to a request with a floor.")
                         .Register(registry)
                         .Add({}, HeadroomBuckets());
  floor_violations_ = &prometheus::BuildCounter()
                           .Name("ternserve_floor_violations_total")
                           .Help(
                               "OK answers from a sub-net below the request's accuracy floor "
                               "(the scheduler never does this: any count is a bug).")
                           .Register(registry)
                           .Add({});
  queue_depth_ = &prometheus::BuildGauge()
                      .Name("ternserve_queue_depth")
                      .Help("Requests waiting in the dispatcher's queue.")
                      .Register(registry)
                      .Add({});

  latency_scale_ = &prometheus::BuildGauge()
                        .Name("ternserve_latency_model_ratio")
                        .Help(
                            "How much slower than its latency profile the engine runs now, as "
                            "the policy plans with it (--adapt_latency): every profiled latency "
                            "is multiplied by this. 1 = as profiled, or --adapt_latency=false.")
                        .Register(registry)
                        .Add({});
  latency_scale_->Set(1);

  subnet_requests_ = &prometheus::BuildCounter()
                          .Name("ternserve_subnet_requests_total")
                          .Help("Requests run, by sub-net id.")
                          .Register(registry);
  compute_seconds_ = &prometheus::BuildHistogram()
                          .Name("ternserve_compute_duration_seconds")
                          .Help("Compute time of each batch, by sub-net id.")
                          .Register(registry);
  {
    absl::MutexLock lock(&subnets_mu_);
    AddSubnets(metadata);
  }
  model_generation_ = &prometheus::BuildGauge()
                           .Name("ternserve_model_generation")
                           .Help("1 for the bundle served at start-up; each reload adds 1.")
                           .Register(registry)
                           .Add({});
  model_generation_->Set(1);
  auto& reloads = prometheus::BuildCounter()
                      .Name("ternserve_model_reloads_total")
                      .Help(
                          "Bundle reloads (SIGHUP) by result: ok (swapped in), refused (the "
                          "bundle or its profile failed validation; the old bundle stays).")
                      .Register(registry);
  reloads_ok_ = &reloads.Add({{"result", "ok"}});
  reloads_refused_ = &reloads.Add({{"result", "refused"}});

  prometheus::BuildGauge()
      .Name("ternserve_build_info")
      .Help("Always 1; the labels say what this server runs.")
      .Register(registry)
      .Add({{"version", build_info.version},
            {"policy", build_info.policy},
            {"engine", build_info.engine},
            {"isa", build_info.isa}})
      .Set(1);
}

void ServerMetrics::AddSubnets(const BundleMetadata& metadata) {
  for (const SubnetMeta& meta : metadata.subnets) {
    SubnetMetrics& subnet = subnets_[meta.id];
    if (subnet.requests == nullptr) {
      const prometheus::Labels labels = {{"subnet", std::to_string(meta.id)}};
      subnet.requests = &subnet_requests_->Add(labels);
      subnet.compute_seconds = &compute_seconds_->Add(labels, LatencyBucketsSeconds());
    }
    subnet.test_accuracy = meta.test_accuracy;
  }
}

void ServerMetrics::OnModelLoaded(const BundleMetadata& metadata, int generation) {
  {
    absl::MutexLock lock(&subnets_mu_);
    AddSubnets(metadata);
  }
  model_generation_->Set(generation);
  reloads_ok_->Increment();
}

void ServerMetrics::OnReloadRefused() { reloads_refused_->Increment(); }

void ServerMetrics::OnQueueDepth(int depth) { queue_depth_->Set(depth); }

void ServerMetrics::OnLatencyScale(double scale) { latency_scale_->Set(scale); }

void ServerMetrics::OnBatchDone(int subnet_id, int batch_size, absl::Duration compute_time) {
  batch_size_->Observe(batch_size);
  absl::ReaderMutexLock lock(&subnets_mu_);
  const auto it = subnets_.find(subnet_id);
  if (it == subnets_.end()) return;  // the dispatcher runs only the bundles' sub-nets
  it->second.requests->Increment(batch_size);
  it->second.compute_seconds->Observe(absl::ToDoubleSeconds(compute_time));
}

void ServerMetrics::OnReceived() { received_->Increment(); }

void ServerMetrics::OnInvalid(absl::StatusCode code) { CountCode(code); }

void ServerMetrics::OnNotQueued(absl::StatusCode code, bool refused_for_floor) {
  CountCode(code);
  CountSlo(ClassifySlo(code, /*ran=*/false, /*deadline_met=*/false));
  if (refused_for_floor) CountFloorRefusal(code);
}

void ServerMetrics::CountFloorRefusal(absl::StatusCode code) {
  (code == absl::StatusCode::kOutOfRange ? floor_refused_above_ : floor_refused_deadline_)
      ->Increment();
}

void ServerMetrics::OnCompleted(const CompletedRequest& request) {
  CountCode(request.code);
  CountSlo(ClassifySlo(request.code, request.ran, request.deadline_met));
  request_seconds_->Observe(absl::ToDoubleSeconds(request.request_time));
  queue_seconds_->Observe(absl::ToDoubleSeconds(request.queue_time));
  if (request.refused_for_floor) CountFloorRefusal(request.code);
  if (request.code != absl::StatusCode::kOk) return;
  double accuracy = request.served_accuracy;
  if (accuracy < 0) {
    absl::ReaderMutexLock lock(&subnets_mu_);
    const auto it = subnets_.find(request.subnet_id);
    if (it == subnets_.end()) return;
    accuracy = it->second.test_accuracy;
  }
  served_accuracy_->Observe(accuracy);
  if (request.min_accuracy > 0) {
    floor_headroom_->Observe(accuracy - request.min_accuracy);
    if (accuracy < request.min_accuracy) floor_violations_->Increment();
  }
}

MetricsSnapshot ServerMetrics::Snapshot() const {
  MetricsSnapshot snapshot;
  for (size_t code = 0; code < requests_by_code_.size(); ++code) {
    snapshot.requests_by_code[code] = requests_by_code_[code]->Value();
  }
  for (size_t outcome = 0; outcome < slo_by_outcome_.size(); ++outcome) {
    snapshot.slo_by_outcome[outcome] = slo_by_outcome_[outcome]->Value();
  }
  snapshot.request_seconds = ValuesOf(*request_seconds_);
  snapshot.batch_size = ValuesOf(*batch_size_);
  snapshot.served_accuracy = ValuesOf(*served_accuracy_);
  snapshot.queue_depth = queue_depth_->Value();
  absl::ReaderMutexLock lock(&subnets_mu_);
  for (const auto& [id, subnet] : subnets_) snapshot.subnet_requests[id] = subnet.requests->Value();
  return snapshot;
}

void ServerMetrics::CountCode(absl::StatusCode code) {
  const int index = static_cast<int>(code);
  // absl has no codes beyond 16; anything else would be a bug, counted as UNKNOWN.
  requests_by_code_[static_cast<size_t>(index >= 0 && index < kCodes ? index : 2)]->Increment();
}

void ServerMetrics::CountSlo(SloOutcome outcome) {
  slo_by_outcome_[static_cast<size_t>(outcome)]->Increment();
}

}  // namespace ternserve
