// Tests for server/metrics.cc: ServerMetrics on a local Registry, driven with known events and read
// back through prometheus-cpp's TextSerializer (the exposition format the server serves); then the
// wiring, with a real Dispatcher and ClassifierService::Submit reporting into it.
#include "server/metrics.h"

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/dispatcher.h"
#include "server/classifier_service.h"
#include "server/engine_batch_processor.h"
#include "tests/testing/pixel_engine.h"
#include "tests/testing/test_task.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

std::string Scrape(const prometheus::Registry& registry) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry.Collect());
  return out.str();
}

// The value of the sample line that starts with `series` (name plus its exact label set, as the
// serializer writes it), or NaN if there is none.
double Sample(const std::string& scrape, const std::string& series) {
  std::istringstream lines(scrape);
  for (std::string line; std::getline(lines, line);) {
    if (absl::StartsWith(line, series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return std::numeric_limits<double>::quiet_NaN();
}

int CountLinesStartingWith(const std::string& scrape, const std::string& prefix) {
  std::istringstream lines(scrape);
  int count = 0;
  for (std::string line; std::getline(lines, line);) count += absl::StartsWith(line, prefix);
  return count;
}

BundleMetadata TwoSubnets() {
  BundleMetadata metadata;
  for (int c = 0; c < 10; ++c) metadata.labels.push_back("class" + std::to_string(c));
  for (const auto& [id, accuracy] : {std::pair{0, 0.8}, std::pair{3, 0.9}}) {
    SubnetMeta subnet;
    subnet.id = id;
    subnet.name = "subnet" + std::to_string(id);
    subnet.test_accuracy = accuracy;
    metadata.subnets.push_back(subnet);
  }
  return metadata;
}

const BuildInfo kBuildInfo{"0.1.0", "slackfit", "ternary", "avx2"};

TEST(ServerMetricsTest, RegistersEveryFamilyWithItsTypeAndLabels) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, TwoSubnets(), kBuildInfo);
  const std::string scrape = Scrape(registry);
  for (const char* type_line : {
           "# TYPE ternserve_requests_received_total counter",
           "# TYPE ternserve_requests_total counter",
           "# TYPE ternserve_request_duration_seconds histogram",
           "# TYPE ternserve_queue_duration_seconds histogram",
           "# TYPE ternserve_compute_duration_seconds histogram",
           "# TYPE ternserve_slo_total counter",
           "# TYPE ternserve_subnet_requests_total counter",
           "# TYPE ternserve_batch_size histogram",
           "# TYPE ternserve_queue_depth gauge",
           "# TYPE ternserve_latency_model_ratio gauge",
           "# TYPE ternserve_served_accuracy histogram",
           "# TYPE ternserve_floor_refusals_total counter",
           "# TYPE ternserve_floor_headroom histogram",
           "# TYPE ternserve_floor_violations_total counter",
           "# TYPE ternserve_build_info gauge",
           "# TYPE ternserve_model_generation gauge",
           "# TYPE ternserve_model_reloads_total counter",
       }) {
    EXPECT_THAT(scrape, HasSubstr(type_line));
  }
  EXPECT_EQ(CountLinesStartingWith(scrape, "# TYPE"), 17);
  EXPECT_EQ(Sample(scrape, R"(ternserve_floor_refusals_total{reason="above_model"})"), 0);
  EXPECT_EQ(Sample(scrape, R"(ternserve_floor_refusals_total{reason="deadline"})"), 0);
  EXPECT_EQ(Sample(scrape, "ternserve_floor_violations_total"), 0);
  EXPECT_EQ(Sample(scrape, "ternserve_latency_model_ratio"), 1);
  EXPECT_EQ(Sample(scrape, "ternserve_model_generation"), 1);
  EXPECT_EQ(Sample(scrape, R"(ternserve_model_reloads_total{result="ok"})"), 0);
  EXPECT_EQ(Sample(scrape, R"(ternserve_model_reloads_total{result="refused"})"), 0);
  EXPECT_EQ(Sample(scrape, "ternserve_requests_received_total"), 0);
  // Every code, outcome and sub-net exists from the start, at zero.
  EXPECT_EQ(CountLinesStartingWith(scrape, "ternserve_requests_total{"), 17);
  EXPECT_EQ(Sample(scrape, R"(ternserve_requests_total{code="OK"})"), 0);
  EXPECT_EQ(Sample(scrape, R"(ternserve_requests_total{code="UNAUTHENTICATED"})"), 0);
  for (const char* outcome : {"met", "missed", "dropped", "cancelled"}) {
    EXPECT_EQ(Sample(scrape, absl::StrCat(R"(ternserve_slo_total{outcome=")", outcome, R"("})")),
              0);
  }
  EXPECT_EQ(CountLinesStartingWith(scrape, "ternserve_slo_total{"), 4);
  EXPECT_EQ(Sample(scrape, R"(ternserve_subnet_requests_total{subnet="0"})"), 0);
  EXPECT_EQ(Sample(scrape, R"(ternserve_subnet_requests_total{subnet="3"})"), 0);
  EXPECT_EQ(CountLinesStartingWith(scrape, "ternserve_subnet_requests_total{"), 2);
  EXPECT_EQ(Sample(scrape, R"(ternserve_compute_duration_seconds_count{subnet="3"})"), 0);
  // prometheus-cpp orders labels by name.
  EXPECT_EQ(
      Sample(
          scrape,
          R"(ternserve_build_info{engine="ternary",isa="avx2",policy="slackfit",version="0.1.0"})"),
      1);
}

// A reload adds the new bundle's sub-nets (keeping the old ones' counts), and an answer's accuracy
// is the one its own bundle gave, whatever is loaded now.
TEST(ServerMetricsTest, AReloadAddsItsSubnetsAndAnswersKeepTheirBundlesAccuracy) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, TwoSubnets(), kBuildInfo);
  metrics.OnBatchDone(3, 2, absl::Milliseconds(1));
  BundleMetadata next = TwoSubnets();
  next.subnets[1].test_accuracy = 0.95;  // sub-net 3, retrained
  SubnetMeta added;
  added.id = 5;
  added.test_accuracy = 0.7;
  next.subnets.push_back(added);
  metrics.OnReloadRefused();
  metrics.OnModelLoaded(next, 2);
  metrics.OnBatchDone(5, 4, absl::Milliseconds(1));
  metrics.OnBatchDone(3, 1, absl::Milliseconds(1));
  CompletedRequest old_answer;  // ran on sub-net 3 of the old bundle, answered after the swap
  old_answer.ran = true;
  old_answer.subnet_id = 3;
  old_answer.served_accuracy = 0.9;
  metrics.OnCompleted(old_answer);
  CompletedRequest unnamed;  // names no bundle: the loaded one's accuracy
  unnamed.ran = true;
  unnamed.subnet_id = 3;
  metrics.OnCompleted(unnamed);

  const std::string s = Scrape(registry);
  EXPECT_EQ(Sample(s, R"(ternserve_subnet_requests_total{subnet="3"})"), 3);
  EXPECT_EQ(Sample(s, R"(ternserve_subnet_requests_total{subnet="5"})"), 4);
  EXPECT_EQ(Sample(s, R"(ternserve_subnet_requests_total{subnet="0"})"), 0);
  EXPECT_EQ(CountLinesStartingWith(s, "ternserve_subnet_requests_total{"), 3);
  EXPECT_EQ(Sample(s, R"(ternserve_compute_duration_seconds_count{subnet="5"})"), 1);
  EXPECT_EQ(Sample(s, "ternserve_model_generation"), 2);
  EXPECT_EQ(Sample(s, R"(ternserve_model_reloads_total{result="ok"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_model_reloads_total{result="refused"})"), 1);
  EXPECT_EQ(Sample(s, "ternserve_served_accuracy_count"), 2);
  EXPECT_NEAR(Sample(s, "ternserve_served_accuracy_sum"), 0.9 + 0.95, 1e-12);
}

TEST(ServerMetricsTest, RequestsTakenOutOfTheQueueOnCancellationAreTheirOwnSloOutcome) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, TwoSubnets(), kBuildInfo);
  for (int i = 0; i < 3; ++i) metrics.OnReceived();
  metrics.OnNotQueued(absl::StatusCode::kCancelled);  // cancelled before Enqueue
  CompletedRequest removed;                           // taken out of the queue, never ran
  removed.code = absl::StatusCode::kCancelled;
  metrics.OnCompleted(removed);
  metrics.OnNotQueued(absl::StatusCode::kUnavailable);  // for contrast: dropped
  const std::string s = Scrape(registry);
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="cancelled"})"), 2);
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="dropped"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="CANCELLED"})"), 2);
  EXPECT_EQ(ClassifySlo(absl::StatusCode::kCancelled, /*ran=*/false, false),
            SloOutcome::kCancelled);
  EXPECT_EQ(ClassifySlo(absl::StatusCode::kCancelled, /*ran=*/true, false), SloOutcome::kMissed);
}

TEST(ServerMetricsTest, FloorRefusalsByReasonHeadroomAndViolations) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, TwoSubnets(), kBuildInfo);  // sub-nets 0 (0.8) and 3 (0.9)
  for (int i = 0; i < 6; ++i) metrics.OnReceived();
  // Refused at Enqueue: above every sub-net, and too slow for the deadline.
  metrics.OnNotQueued(absl::StatusCode::kOutOfRange, /*refused_for_floor=*/true);
  metrics.OnNotQueued(absl::StatusCode::kDeadlineExceeded, /*refused_for_floor=*/true);
  // Dropped from the queue for its floor.
  CompletedRequest dropped;
  dropped.code = absl::StatusCode::kDeadlineExceeded;
  dropped.min_accuracy = 0.85;
  dropped.refused_for_floor = true;
  metrics.OnCompleted(dropped);
  // Served: sub-net 3 (0.9) for a floor of 0.85 (headroom 0.05); sub-net 0 (0.8) for a floor of
  // 0.85 (a violation, which the scheduler never makes: the metric must still show one); sub-net
  // 0 with no floor (no headroom observed).
  CompletedRequest served;
  served.ran = true;
  served.deadline_met = true;
  served.subnet_id = 3;
  served.min_accuracy = 0.85;
  metrics.OnCompleted(served);
  served.subnet_id = 0;
  metrics.OnCompleted(served);
  served.min_accuracy = 0;
  metrics.OnCompleted(served);
  const std::string s = Scrape(registry);
  EXPECT_EQ(Sample(s, R"(ternserve_floor_refusals_total{reason="above_model"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_floor_refusals_total{reason="deadline"})"), 2);
  EXPECT_EQ(Sample(s, "ternserve_floor_headroom_count"), 2);
  EXPECT_NEAR(Sample(s, "ternserve_floor_headroom_sum"), 0.05 - 0.05, 1e-9);
  EXPECT_EQ(Sample(s, R"(ternserve_floor_headroom_bucket{le="0"})"), 1);  // the violation
  EXPECT_EQ(Sample(s, R"(ternserve_floor_headroom_bucket{le="0.1"})"), 2);
  EXPECT_EQ(Sample(s, "ternserve_floor_violations_total"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="OUT_OF_RANGE"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="dropped"})"), 3);
}

TEST(ServerMetricsTest, CountsKnownEventsExactly) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, TwoSubnets(), kBuildInfo);
  // Requests: 2 invalid; 2 refused at Enqueue; 4 completed (met, late, hopeless, engine error);
  // one more received and still in flight.
  for (int i = 0; i < 9; ++i) metrics.OnReceived();
  metrics.OnInvalid(absl::StatusCode::kInvalidArgument);
  metrics.OnInvalid(absl::StatusCode::kInvalidArgument);
  metrics.OnNotQueued(absl::StatusCode::kResourceExhausted);
  metrics.OnNotQueued(absl::StatusCode::kUnavailable);
  auto completed = [](absl::StatusCode code, bool ran, bool met, int subnet, int queue_ms,
                      int request_ms) {
    CompletedRequest r;
    r.code = code;
    r.ran = ran;
    r.deadline_met = met;
    r.subnet_id = subnet;
    r.queue_time = absl::Milliseconds(queue_ms);
    r.request_time = absl::Milliseconds(request_ms);
    return r;
  };
  metrics.OnCompleted(completed(absl::StatusCode::kOk, true, true, 3, 1, 3));
  metrics.OnCompleted(completed(absl::StatusCode::kOk, true, false, 0, 2, 20));
  metrics.OnCompleted(completed(absl::StatusCode::kDeadlineExceeded, false, false, -1, 5, 5));
  metrics.OnCompleted(completed(absl::StatusCode::kInternal, true, false, 3, 1, 2));
  // Batches: sub-net 3 twice (4 and 2 requests), sub-net 0 once (1 request).
  metrics.OnBatchDone(3, 4, absl::Milliseconds(2));
  metrics.OnBatchDone(0, 1, absl::Milliseconds(1));
  metrics.OnBatchDone(3, 2, absl::Milliseconds(4));
  metrics.OnQueueDepth(5);
  metrics.OnQueueDepth(2);

  const std::string s = Scrape(registry);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="INVALID_ARGUMENT"})"), 2);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="RESOURCE_EXHAUSTED"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="UNAVAILABLE"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="OK"})"), 2);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="DEADLINE_EXCEEDED"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="INTERNAL"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="CANCELLED"})"), 0);
  EXPECT_EQ(Sample(s, "ternserve_requests_received_total"), 9);
  // Invalid requests are no SLO outcome; the other six are one each.
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="met"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="missed"})"), 2);
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="dropped"})"), 3);
  // Durations: the 4 completed requests only.
  EXPECT_EQ(Sample(s, "ternserve_request_duration_seconds_count"), 4);
  EXPECT_NEAR(Sample(s, "ternserve_request_duration_seconds_sum"), 0.030, 1e-12);
  EXPECT_EQ(Sample(s, "ternserve_queue_duration_seconds_count"), 4);
  EXPECT_NEAR(Sample(s, "ternserve_queue_duration_seconds_sum"), 0.009, 1e-12);
  EXPECT_EQ(Sample(s, R"(ternserve_request_duration_seconds_bucket{le="+Inf"})"), 4);
  // Served accuracy: the two OK answers, sub-nets 3 (0.9) and 0 (0.8).
  EXPECT_EQ(Sample(s, "ternserve_served_accuracy_count"), 2);
  EXPECT_NEAR(Sample(s, "ternserve_served_accuracy_sum"), 1.7, 1e-12);
  EXPECT_EQ(Sample(s, R"(ternserve_served_accuracy_bucket{le="0.8"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_served_accuracy_bucket{le="0.89"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_served_accuracy_bucket{le="0.9"})"), 2);
  // Batches.
  EXPECT_EQ(Sample(s, R"(ternserve_subnet_requests_total{subnet="3"})"), 6);
  EXPECT_EQ(Sample(s, R"(ternserve_subnet_requests_total{subnet="0"})"), 1);
  EXPECT_EQ(Sample(s, "ternserve_batch_size_count"), 3);
  EXPECT_EQ(Sample(s, "ternserve_batch_size_sum"), 7);
  EXPECT_EQ(Sample(s, R"(ternserve_batch_size_bucket{le="1"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_batch_size_bucket{le="2"})"), 2);
  EXPECT_EQ(Sample(s, R"(ternserve_batch_size_bucket{le="4"})"), 3);
  EXPECT_EQ(Sample(s, R"(ternserve_batch_size_bucket{le="4096"})"), 3);
  EXPECT_EQ(Sample(s, R"(ternserve_compute_duration_seconds_count{subnet="3"})"), 2);
  EXPECT_NEAR(Sample(s, R"(ternserve_compute_duration_seconds_sum{subnet="3"})"), 0.006, 1e-12);
  EXPECT_EQ(Sample(s, R"(ternserve_compute_duration_seconds_count{subnet="0"})"), 1);
  EXPECT_EQ(Sample(s, "ternserve_queue_depth"), 2);
}

TEST(ServerMetricsTest, TheLatencyModelRatioIsTheLastScaleReported) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, TwoSubnets(), {});
  metrics.OnLatencyScale(1.25);
  metrics.OnLatencyScale(1.5);
  EXPECT_EQ(Sample(Scrape(registry), "ternserve_latency_model_ratio"), 1.5);
}

TEST(ServerMetricsTest, SloOutcomeTable) {
  struct Case {
    absl::StatusCode code;
    bool ran;
    bool deadline_met;
    SloOutcome want;
  };
  const Case cases[] = {
      {absl::StatusCode::kOk, true, true, SloOutcome::kMet},
      {absl::StatusCode::kOk, true, false, SloOutcome::kMissed},  // late=serve
      {absl::StatusCode::kInternal, true, false, SloOutcome::kMissed},
      {absl::StatusCode::kInternal, true, true, SloOutcome::kMissed},  // an error never meets it
      {absl::StatusCode::kDeadlineExceeded, false, false, SloOutcome::kDropped},
      {absl::StatusCode::kResourceExhausted, false, false, SloOutcome::kDropped},
      {absl::StatusCode::kUnavailable, false, false, SloOutcome::kDropped},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ClassifySlo(c.code, c.ran, c.deadline_met), c.want)
        << absl::StatusCodeToString(c.code) << " ran=" << c.ran << " met=" << c.deadline_met;
  }
}

TEST(ServerMetricsTest, LatencyBucketsAreLogSpacedFrom100UsTo1S) {
  const std::vector<double>& buckets = LatencyBucketsSeconds();
  ASSERT_GE(buckets.size(), 20u);
  ASSERT_LE(buckets.size(), 25u);
  EXPECT_DOUBLE_EQ(buckets.front(), 1e-4);
  EXPECT_GE(buckets.back(), 1.0);
  EXPECT_LT(buckets[buckets.size() - 2], 1.0);
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_NEAR(buckets[i] / buckets[i - 1], 1.5, 0.01) << i;
  }
}

// Logits all zero; fails with `fail` when set.
// Blocks every batch until released; tells when the first one started.
class HeldProcessor : public BatchProcessor {
 public:
  absl::Status ProcessBatch(int /*worker*/, int /*subnet_id*/,
                            absl::Span<Task* const> /*batch*/) override {
    if (!entered.HasBeenNotified()) entered.Notify();
    release.WaitForNotification();
    return absl::OkStatus();
  }
  absl::Notification entered;
  absl::Notification release;
};

// The gauge follows the dispatcher's queue: up on every push, down on every pop.
TEST(ServerMetricsTest, QueueDepthFollowsTheDispatcherQueue) {
  prometheus::Registry registry;
  ServerMetrics metrics(registry, TwoSubnets(), kBuildInfo);
  HeldProcessor processor;
  DispatcherOptions options;
  options.subnet_id = 0;
  options.max_batch = 1;
  options.observer = &metrics;
  Dispatcher dispatcher(options, &processor, RealClock::Get());
  TaskLog log;
  auto enqueue = [&] {
    std::unique_ptr<Task> task = MakeTestTask(0, absl::Now(), absl::Seconds(60), &log);
    ASSERT_TRUE(dispatcher.Enqueue(&task).ok());
  };
  enqueue();
  processor.entered.WaitForNotification();  // the first request was popped and is running
  EXPECT_EQ(Sample(Scrape(registry), "ternserve_queue_depth"), 0);
  for (int i = 0; i < 3; ++i) enqueue();
  EXPECT_EQ(Sample(Scrape(registry), "ternserve_queue_depth"), 3);
  processor.release.Notify();
  log.WaitFor(4);
  const std::string s = Scrape(registry);
  EXPECT_EQ(Sample(s, "ternserve_queue_depth"), 0);
  EXPECT_EQ(Sample(s, R"(ternserve_batch_size_bucket{le="1"})"), 4);
  EXPECT_EQ(Sample(s, R"(ternserve_subnet_requests_total{subnet="0"})"), 4);
}

v1::ClassifyRequest BlankRequest() {
  v1::ClassifyRequest request;
  for (int i = 0; i < 784; ++i) request.mutable_pixels()->add_values(0.5f);
  request.set_latency_slo_ms(10000);
  return request;
}

// The service and the dispatcher report every path of a request: answered, invalid, engine error,
// refused while draining.
TEST(ServerMetricsTest, ServiceAndDispatcherReportEveryRequest) {
  prometheus::Registry registry;
  const BundleMetadata metadata = TwoSubnets();
  ServerMetrics metrics(registry, metadata, kBuildInfo);
  PixelEngineControl engines;
  std::vector<std::unique_ptr<Engine>> engine;
  engine.push_back(engines.MakeEngine());
  EngineBatchProcessor processor(std::move(engine), 10);
  DispatcherOptions dispatcher_options;
  dispatcher_options.subnet_id = 3;
  dispatcher_options.max_batch = 4;
  dispatcher_options.observer = &metrics;
  Dispatcher dispatcher(dispatcher_options, &processor, RealClock::Get());
  ClassifierServiceOptions service_options;
  service_options.limits.num_classes = 10;
  RequestSubmitter submitter(&dispatcher, RealClock::Get(), &metrics, nullptr);
  const CurrentModel model(
      ServedModel{std::make_shared<const BundleMetadata>(metadata), nullptr, ""});
  ClassifierService service(service_options, &model, &submitter);

  auto submit_all = [&](const std::vector<v1::ClassifyRequest>& requests) {
    absl::BlockingCounter answered(static_cast<int>(requests.size()));
    for (const v1::ClassifyRequest& request : requests) {
      service.Submit(request, absl::InfiniteFuture(),
                     [&](absl::StatusOr<v1::ClassifyResponse>) { answered.DecrementCount(); });
    }
    answered.Wait();
  };
  v1::ClassifyRequest invalid = BlankRequest();
  invalid.set_top_k(11);
  submit_all({BlankRequest(), BlankRequest(), invalid, BlankRequest()});
  engines.Fail(absl::InternalError("engine failed"));
  submit_all({BlankRequest()});
  dispatcher.Drain();
  submit_all({BlankRequest()});

  const std::string s = Scrape(registry);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="OK"})"), 3);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="INVALID_ARGUMENT"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="INTERNAL"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_requests_total{code="UNAVAILABLE"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="met"})"), 3);
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="missed"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_slo_total{outcome="dropped"})"), 1);
  EXPECT_EQ(Sample(s, R"(ternserve_subnet_requests_total{subnet="3"})"), 4);
  EXPECT_EQ(Sample(s, R"(ternserve_subnet_requests_total{subnet="0"})"), 0);
  EXPECT_EQ(Sample(s, "ternserve_batch_size_sum"), 4);
  EXPECT_EQ(Sample(s, "ternserve_request_duration_seconds_count"), 4);
  EXPECT_EQ(Sample(s, "ternserve_queue_duration_seconds_count"), 4);
  EXPECT_EQ(Sample(s, "ternserve_served_accuracy_count"), 3);
  EXPECT_NEAR(Sample(s, "ternserve_served_accuracy_sum"), 2.7, 1e-12);
  EXPECT_EQ(Sample(s, "ternserve_queue_depth"), 0);
}

}  // namespace
}  // namespace ternserve
