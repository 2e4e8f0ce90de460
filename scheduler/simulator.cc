// Discrete-event scheduler simulator. See simulator.h.
#include "scheduler/simulator.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "scheduler/edf_queue.h"

namespace ternserve {
namespace {

// z-score of the 99th percentile of the standard normal.
constexpr double kZ99 = 2.3263478740408408;

struct NoPayload {};
using SimQueue = EdfQueue<NoPayload>;

// The log-normal of median p50 and 99th percentile p99, in µs.
struct LogNormal {
  double median_us;
  double sigma;
  static LogNormal Fit(double p50_us, double p99_us) {
    return {p50_us, p99_us > p50_us && p50_us > 0 ? std::log(p99_us / p50_us) / kZ99 : 0};
  }
};

// A running batch: when it ends and how it went, for the policy's feedback.
struct RunningBatch {
  absl::Time finish;
  BatchOutcome outcome;
  bool operator>(const RunningBatch& o) const { return finish > o.finish; }
};

// Samples each request's time outside the server; zero when none is modeled. Its own generator,
// so that modeling it leaves the service-time draws unchanged.
class OutsideTimeModel {
 public:
  OutsideTimeModel(absl::Duration p50, absl::Duration p99, uint64_t seed)
      : shape_(LogNormal::Fit(absl::ToDoubleMicroseconds(p50), absl::ToDoubleMicroseconds(p99))),
        rng_(seed ^ 0x9e3779b97f4a7c15ULL) {}

  absl::Duration Sample() {
    if (shape_.median_us <= 0) return absl::ZeroDuration();
    return absl::Nanoseconds(
        static_cast<int64_t>(1000 * shape_.median_us * std::exp(shape_.sigma * normal_(rng_))));
  }

 private:
  const LogNormal shape_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0, 1};
};

// Samples batch service times: overhead + log-normal(median p50, 99th percentile p99). The
// (p50, sigma) of every (sub-net, batch) up to `max_batch` is tabulated up front: the simulator
// draws one sample per batch, and interpolating the profile each time costs more than the draw.
class ServiceTimeModel {
 public:
  ServiceTimeModel(const LatencyProfile& profile, int max_batch, uint64_t seed)
      : profile_(profile),
        max_batch_(std::max(1, max_batch)),
        overhead_us_(profile.overhead_us),
        rng_(seed) {
    for (const SubnetLatency& subnet : profile.subnets) {
      if (subnet.id >= static_cast<int>(index_of_id_.size())) {
        index_of_id_.resize(static_cast<size_t>(subnet.id) + 1, -1);
      }
      index_of_id_[static_cast<size_t>(subnet.id)] = static_cast<int>(shapes_.size() / Stride());
      shapes_.push_back({0, 0});  // batch 0: unused
      for (int batch = 1; batch <= max_batch_; ++batch) shapes_.push_back(Shape(subnet, batch));
    }
  }

  // Index of sub-net `id` in the profile, or -1.
  int IndexOf(int id) const {
    return id >= 0 && id < static_cast<int>(index_of_id_.size())
               ? index_of_id_[static_cast<size_t>(id)]
               : -1;
  }

  absl::Duration Sample(int subnet_id, int batch) {
    const int index = IndexOf(subnet_id);
    if (index < 0) return absl::Microseconds(overhead_us_);
    const LogNormal shape =
        batch <= max_batch_
            ? shapes_[static_cast<size_t>(index) * Stride() + static_cast<size_t>(batch)]
            : Shape(profile_.subnets[static_cast<size_t>(index)], batch);
    const double us = overhead_us_ + shape.median_us * std::exp(shape.sigma * normal_(rng_));
    return absl::Nanoseconds(static_cast<int64_t>(us * 1000));
  }

 private:
  static LogNormal Shape(const SubnetLatency& subnet, int batch) {
    return LogNormal::Fit(P50Us(subnet, batch), P99Us(subnet, batch));
  }
  size_t Stride() const { return static_cast<size_t>(max_batch_) + 1; }

  const LatencyProfile& profile_;
  const int max_batch_;
  const double overhead_us_;
  std::vector<int> index_of_id_;
  std::vector<LogNormal> shapes_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0, 1};
};

// The policy's options, with the workers the simulation runs.
PolicyOptions PolicyOptionsFor(const SimulatorOptions& options) {
  PolicyOptions policy_options = options.policy_options;
  policy_options.workers = options.workers;
  return policy_options;
}

double Percentile(std::vector<float>* values, double q) {
  if (values->empty()) return 0;
  const size_t k = std::min(values->size() - 1, static_cast<size_t>(q * values->size()));
  std::nth_element(values->begin(), values->begin() + static_cast<std::ptrdiff_t>(k),
                   values->end());
  return (*values)[k];
}

}  // namespace

absl::StatusOr<SimulationResult> Simulate(const LatencyProfile& profile, ArrivalSource* trace,
                                          const SimulatorOptions& options) {
  if (options.workers < 1) return absl::InvalidArgumentError("workers must be >= 1");
  if (!(options.slo > absl::ZeroDuration())) return absl::InvalidArgumentError("slo must be > 0");
  if (options.max_queue < 1) return absl::InvalidArgumentError("max_queue must be >= 1");
  if (options.slo_reserve < absl::ZeroDuration() || options.slo_reserve >= options.slo) {
    return absl::InvalidArgumentError("need 0 <= slo_reserve < slo");
  }
  if (options.outside_p50 < absl::ZeroDuration() || options.outside_p99 < options.outside_p50) {
    return absl::InvalidArgumentError("need 0 <= outside_p50 <= outside_p99");
  }
  absl::StatusOr<std::unique_ptr<Policy>> policy =
      CreatePolicy(options.policy, profile, PolicyOptionsFor(options));
  if (!policy.ok()) return policy.status();

  ServiceTimeModel service(profile, std::max(profile.MaxBatch(), options.policy_options.max_batch),
                           options.seed);
  OutsideTimeModel outside(options.outside_p50, options.outside_p99, options.seed);
  SpeedModel speed(options.speed, options.seed);
  double scale_sum = 0;
  std::vector<int64_t> served_by_index(profile.subnets.size(), 0);
  SimQueue queue(options.max_queue);
  std::priority_queue<RunningBatch, std::vector<RunningBatch>, std::greater<RunningBatch>> running;
  std::vector<SimQueue::Entry> batch;
  std::vector<SimQueue::Entry> dropped;
  std::vector<float> latencies_ms;  // of served requests
  SimulationResult result;
  double accuracy_sum = 0;

  if (!options.floor_mix.empty()) {
    for (const FloorMixEntry& e : options.floor_mix) {
      if (!(e.min_accuracy >= 0 && e.min_accuracy <= 1) || !(e.weight > 0)) {
        return absl::InvalidArgumentError("floor mix: need floors in [0, 1] and weights > 0");
      }
      result.floors[e.min_accuracy];  // every floor of the mix is reported, even if never drawn
    }
  }
  FloorMixSampler floor_sampler(options.floor_mix, options.seed);
  // The floor result of a request, or null without a mix.
  const auto floor_result = [&result](double floor) -> SimulationResult::FloorResult* {
    if (result.floors.empty()) return nullptr;
    return &result.floors[floor];
  };

  const absl::Time start = absl::UnixEpoch();
  absl::Time now = start;
  absl::Time last_finish = start;
  absl::Time retry_at = absl::InfiniteFuture();
  int free_workers = options.workers;
  Arrival next;
  bool more_arrivals = trace->Next(&next);

  for (;;) {
    // The next event: an arrival, a batch finishing, or a waiting policy's retry time.
    const absl::Time arrival_at = more_arrivals ? start + next.time : absl::InfiniteFuture();
    const absl::Time finish_at = running.empty() ? absl::InfiniteFuture() : running.top().finish;
    const absl::Time retry = free_workers > 0 && !queue.empty() ? retry_at : absl::InfiniteFuture();
    now = std::min({arrival_at, finish_at, retry});
    if (now == absl::InfiniteFuture()) break;

    while (!running.empty() && running.top().finish <= now) {
      (*policy)->BatchDone(running.top().outcome);
      running.pop();
      ++free_workers;
    }
    for (absl::Time arrival = arrival_at; more_arrivals && arrival <= now;) {
      ++result.requests;
      const absl::Duration slo = next.slo > absl::ZeroDuration() ? next.slo : options.slo;
      const absl::Time arrived = arrival - next.queued_after;
      const absl::Time deadline = arrived + slo - options.slo_reserve;
      const int floor_index = floor_sampler.Next();
      const double floor = floor_index >= 0
                               ? options.floor_mix[static_cast<size_t>(floor_index)].min_accuracy
                               : next.min_accuracy;
      SimulationResult::FloorResult* by_floor = floor_result(floor);
      if (by_floor != nullptr) ++by_floor->requests;
      const absl::Status admitted = AdmitFloor(**policy, floor, deadline, now);
      if (!admitted.ok()) {
        ++result.refused_floor;
        if (by_floor != nullptr) {
          ++(admitted.code() == absl::StatusCode::kOutOfRange ? by_floor->refused_above
                                                              : by_floor->refused_deadline);
        }
      } else if (!queue.Push(arrived, deadline, NoPayload{}, floor)) {
        ++result.rejected;
      }
      more_arrivals = trace->Next(&next);
      if (more_arrivals) arrival = start + next.time;
    }

    retry_at = absl::InfiniteFuture();
    while (free_workers > 0 && !queue.empty()) {
      // A replayed batch is decided when the live one was, not before.
      if (const size_t k = static_cast<size_t>(result.batches);
          k < options.replay.size() && now < start + options.replay[k].decided) {
        retry_at = start + options.replay[k].decided;
        break;
      }
      const Decision decision = TakeNextBatch(now, /*flush=*/!more_arrivals, **policy, options.late,
                                              &queue, &batch, &dropped);
      result.dropped += static_cast<int64_t>(dropped.size());
      if (!result.floors.empty() && !dropped.empty()) {
        const HopelessRule rule = (*policy)->ScaledHopelessRule();
        for (const SimQueue::Entry& entry : dropped) {
          if (HopelessForFloorAlone(**policy, rule, entry.min_accuracy, entry.deadline, now)) {
            ++floor_result(entry.min_accuracy)->refused_deadline;
          }
        }
      }
      if (decision.batch == 0) {
        // Guard against a policy asking to be called back in the past.
        if (!queue.empty()) retry_at = std::max(decision.retry_at, now + absl::Nanoseconds(1));
        break;
      }
      scale_sum += (*policy)->latency_scale();
      const size_t k = static_cast<size_t>(result.batches);
      absl::Time free_at, finish;
      absl::Duration compute;
      if (k < options.replay.size()) {
        const SimulatorOptions::ReplayBatch& replayed = options.replay[k];
        free_at = now + replayed.busy;
        finish = now + replayed.answered;
        compute = replayed.compute;
      } else {
        finish =
            now + service.Sample(decision.subnet_id, decision.batch) * speed.FactorAt(now - start);
        free_at = finish;
        compute = finish - now;
      }
      if (options.record_decisions) {
        result.decisions.push_back({decision.subnet_id, decision.batch, decision.late});
      }
      last_finish = std::max(last_finish, free_at);
      bool all_met = !decision.late;
      const int index = service.IndexOf(decision.subnet_id);
      const double accuracy = index >= 0 ? profile.subnets[static_cast<size_t>(index)].accuracy : 0;
      for (const SimQueue::Entry& entry : batch) {
        // The server's view (what the policy is told) and the client's (what counts).
        all_met = all_met && !decision.late && finish <= entry.deadline;
        const absl::Duration latency = finish - entry.arrival + outside.Sample();
        const bool met =
            !decision.late && latency <= entry.deadline - entry.arrival + options.slo_reserve;
        result.met += met ? 1 : 0;
        if (SimulationResult::FloorResult* by_floor = floor_result(entry.min_accuracy)) {
          by_floor->met += met ? 1 : 0;
          by_floor->min_served_accuracy =
              by_floor->served == 0 ? accuracy : std::min(by_floor->min_served_accuracy, accuracy);
          ++by_floor->served;
          by_floor->violations += accuracy < entry.min_accuracy ? 1 : 0;
        }
        // ToInt64Nanoseconds has an inline fast path; ToDoubleMilliseconds divides Durations.
        latencies_ms.push_back(static_cast<float>(absl::ToInt64Nanoseconds(latency) * 1e-6));
      }
      if (index >= 0) {
        accuracy_sum += accuracy * decision.batch;
        served_by_index[static_cast<size_t>(index)] += decision.batch;
      }
      result.served += decision.batch;
      ++result.batches;
      running.push({free_at, {decision.subnet_id, decision.batch, compute, all_met}});
      --free_workers;
    }
  }

  for (size_t i = 0; i < served_by_index.size(); ++i) {
    if (served_by_index[i] > 0) result.subnet_requests[profile.subnets[i].id] = served_by_index[i];
  }
  if (result.requests > 0) {
    result.slo_attainment = static_cast<double>(result.met) / static_cast<double>(result.requests);
  }
  if (result.served > 0) result.mean_accuracy = accuracy_sum / static_cast<double>(result.served);
  if (result.batches > 0) {
    result.mean_batch = static_cast<double>(result.served) / static_cast<double>(result.batches);
  }
  result.p50_ms = Percentile(&latencies_ms, 0.50);
  result.p99_ms = Percentile(&latencies_ms, 0.99);
  result.simulated_seconds = absl::ToDoubleSeconds(last_finish - start);
  if (result.batches > 0)
    result.mean_latency_scale = scale_sum / static_cast<double>(result.batches);
  result.final_latency_scale = (*policy)->latency_scale();
  for (const auto& [floor, by_floor] : result.floors)
    result.floor_violations += by_floor.violations;
  return result;
}

absl::StatusOr<ReplayReport> ReplayScheduleLog(const LatencyProfile& profile,
                                               const ScheduleLog& log) {
  SimulatorOptions options;
  options.policy = log.policy;
  options.workers = log.workers;
  options.max_queue = std::max(1, log.max_queue);
  options.policy_options.max_batch = log.max_batch;
  options.policy_options.max_queue_delay = absl::Microseconds(log.max_queue_delay_us);
  options.policy_options.adapt_latency = log.adapt_latency;
  absl::StatusOr<LateMode> late = ParseLateMode(log.late);
  if (!late.ok()) return late.status();
  options.late = *late;
  options.record_decisions = true;
  // Deadlines come with the arrivals; the default SLO is never used.
  std::vector<Arrival> arrivals;
  arrivals.reserve(log.requests.size());
  for (const ScheduleLog::Request& r : log.requests) {
    // Queued at enqueued_ns, arrived (and its SLO counted from) arrival_ns, as live.
    arrivals.push_back({absl::Nanoseconds(r.enqueued_ns),
                        absl::Nanoseconds(std::max<int64_t>(1, r.deadline_ns - r.arrival_ns)),
                        absl::Nanoseconds(std::max<int64_t>(0, r.enqueued_ns - r.arrival_ns))});
  }
  std::stable_sort(arrivals.begin(), arrivals.end(),
                   [](const Arrival& a, const Arrival& b) { return a.time < b.time; });
  options.replay.reserve(log.batches.size());
  for (const ScheduleLog::Batch& b : log.batches) {
    options.replay.push_back({absl::Nanoseconds(b.decided_ns),
                              absl::Nanoseconds(b.free_ns - b.decided_ns),
                              absl::Nanoseconds(b.finished_ns - b.decided_ns),
                              absl::Nanoseconds(b.finished_ns - b.started_ns)});
  }
  std::unique_ptr<ArrivalSource> trace = ListTrace(std::move(arrivals));
  absl::StatusOr<SimulationResult> result = Simulate(profile, trace.get(), options);
  if (!result.ok()) return result.status();
  ReplayReport report;
  report.result = *std::move(result);
  report.live_batches = static_cast<int64_t>(log.batches.size());
  report.compared =
      std::min(report.live_batches, static_cast<int64_t>(report.result.decisions.size()));
  for (int64_t k = 0; k < report.compared; ++k) {
    const ScheduleLog::Batch& live = log.batches[static_cast<size_t>(k)];
    if (report.result.decisions[static_cast<size_t>(k)] ==
        SimulationResult::BatchDecision{live.subnet_id, live.size, live.late}) {
      ++report.matched;
    } else if (report.first_mismatch < 0) {
      report.first_mismatch = k;
    }
  }
  report.server_attainment = log.attainment();
  report.cancelled = log.cancelled;
  return report;
}

std::string SimulationResultToJson(const SimulationResult& result,
                                   const SimulatorOptions& options) {
  nlohmann::json mix = nlohmann::json::object();
  for (const auto& [id, count] : result.subnet_requests) {
    mix[absl::StrCat(id)] =
        result.served > 0 ? static_cast<double>(count) / static_cast<double>(result.served) : 0.0;
  }
  nlohmann::json json = {
      {"policy", options.policy},
      {"workers", options.workers},
      {"slo_ms", absl::ToDoubleMilliseconds(options.slo)},
      {"slo_reserve_ms", absl::ToDoubleMilliseconds(options.slo_reserve)},
      {"outside_p50_ms", absl::ToDoubleMilliseconds(options.outside_p50)},
      {"outside_p99_ms", absl::ToDoubleMilliseconds(options.outside_p99)},
      {"speed", options.speed.text.empty() ? "none" : options.speed.text},
      {"adapt_latency", options.policy_options.adapt_latency},
      {"requests", result.requests},
      {"slo_attainment", result.slo_attainment},
      {"dropped", result.dropped + result.rejected + result.refused_floor},
      {"dropped_hopeless", result.dropped},
      {"rejected_queue_full", result.rejected},
      {"refused_floor_at_arrival", result.refused_floor},
      {"served", result.served},
      {"met", result.met},
      {"mean_accuracy", result.mean_accuracy},
      {"p50_ms", result.p50_ms},
      {"p99_ms", result.p99_ms},
      {"subnet_mix", mix},
      {"mean_batch", result.mean_batch},
      {"batches", result.batches},
      {"simulated_seconds", result.simulated_seconds},
      {"mean_latency_scale", result.mean_latency_scale},
      {"final_latency_scale", result.final_latency_scale},
  };
  if (!result.floors.empty()) {
    nlohmann::json floors = nlohmann::json::object();
    for (const auto& [floor, f] : result.floors) {
      floors[absl::StrCat(floor)] = {
          {"requests", f.requests},
          {"slo_attainment",
           f.requests > 0 ? static_cast<double>(f.met) / static_cast<double>(f.requests) : 0.0},
          {"served", f.served},
          {"refused_above", f.refused_above},
          {"refused_deadline", f.refused_deadline},
          {"violations", f.violations},
          {"min_served_accuracy", f.min_served_accuracy},
      };
    }
    json["floors"] = floors;
    json["floor_violations"] = result.floor_violations;
  }
  return json.dump();
}

}  // namespace ternserve
