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

// A running batch: when it ends and how it went, for the policy's feedback.
struct RunningBatch {
  absl::Time finish;
  BatchOutcome outcome;
  bool operator>(const RunningBatch& o) const { return finish > o.finish; }
};

// Samples batch service times: overhead + log-normal(median p50, 99th percentile p99).
class ServiceTimeModel {
 public:
  ServiceTimeModel(const LatencyProfile& profile, uint64_t seed)
      : profile_(profile), overhead_us_(profile.overhead_us), rng_(seed) {}

  absl::Duration Sample(int subnet_id, int batch) {
    const SubnetLatency* subnet = profile_.Find(subnet_id);
    if (subnet == nullptr) return absl::Microseconds(overhead_us_);
    const double p50 = P50Us(*subnet, batch);
    const double p99 = P99Us(*subnet, batch);
    const double sigma = p99 > p50 ? std::log(p99 / p50) / kZ99 : 0;
    return absl::Microseconds(overhead_us_ + p50 * std::exp(sigma * normal_(rng_)));
  }

 private:
  const LatencyProfile& profile_;
  const double overhead_us_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0, 1};
};

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
  absl::StatusOr<std::unique_ptr<Policy>> policy =
      CreatePolicy(options.policy, profile, options.policy_options);
  if (!policy.ok()) return policy.status();

  std::map<int, double> accuracy;
  for (const SubnetLatency& subnet : profile.subnets) accuracy[subnet.id] = subnet.accuracy;

  ServiceTimeModel service(profile, options.seed);
  SimQueue queue(options.max_queue);
  std::priority_queue<RunningBatch, std::vector<RunningBatch>, std::greater<RunningBatch>> running;
  std::vector<SimQueue::Entry> batch;
  std::vector<SimQueue::Entry> dropped;
  std::vector<float> latencies_ms;  // of served requests
  SimulationResult result;
  double accuracy_sum = 0;

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
      (*policy)->OnBatchDone(running.top().outcome);
      running.pop();
      ++free_workers;
    }
    while (more_arrivals && start + next.time <= now) {
      ++result.requests;
      const absl::Time arrival = start + next.time;
      const absl::Duration slo = next.slo > absl::ZeroDuration() ? next.slo : options.slo;
      if (!queue.Push(arrival, arrival + slo, NoPayload{})) ++result.rejected;
      more_arrivals = trace->Next(&next);
    }

    retry_at = absl::InfiniteFuture();
    while (free_workers > 0 && !queue.empty()) {
      const Decision decision = TakeNextBatch(now, /*flush=*/!more_arrivals, **policy, options.late,
                                              &queue, &batch, &dropped);
      result.dropped += static_cast<int64_t>(dropped.size());
      if (decision.batch == 0) {
        // Guard against a policy asking to be called back in the past.
        if (!queue.empty()) retry_at = std::max(decision.retry_at, now + absl::Nanoseconds(1));
        break;
      }
      const absl::Time finish = now + service.Sample(decision.subnet_id, decision.batch);
      last_finish = std::max(last_finish, finish);
      bool all_met = !decision.late;
      for (const SimQueue::Entry& entry : batch) {
        const bool met = !decision.late && finish <= entry.deadline;
        all_met = all_met && met;
        result.met += met ? 1 : 0;
        latencies_ms.push_back(
            static_cast<float>(absl::ToDoubleMilliseconds(finish - entry.arrival)));
      }
      const auto acc = accuracy.find(decision.subnet_id);
      accuracy_sum += (acc == accuracy.end() ? 0.0 : acc->second) * decision.batch;
      result.served += decision.batch;
      result.subnet_requests[decision.subnet_id] += decision.batch;
      ++result.batches;
      running.push({finish, {decision.subnet_id, decision.batch, finish - now, all_met}});
      --free_workers;
    }
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
  return result;
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
      {"requests", result.requests},
      {"slo_attainment", result.slo_attainment},
      {"dropped", result.dropped + result.rejected},
      {"dropped_hopeless", result.dropped},
      {"rejected_queue_full", result.rejected},
      {"served", result.served},
      {"met", result.met},
      {"mean_accuracy", result.mean_accuracy},
      {"p50_ms", result.p50_ms},
      {"p99_ms", result.p99_ms},
      {"subnet_mix", mix},
      {"mean_batch", result.mean_batch},
      {"batches", result.batches},
      {"simulated_seconds", result.simulated_seconds},
  };
  return json.dump();
}

}  // namespace ternserve
