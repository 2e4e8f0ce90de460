// The status page's JSON document. See status_json.h.
#include "server/status_json.h"

#include <cmath>
#include <set>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace ternserve {
namespace {

using nlohmann::json;

// The label values of ternserve_slo_total{outcome}, indexed by SloOutcome.
constexpr const char* kOutcomeNames[] = {"met", "missed", "dropped", "cancelled"};

std::string CodeName(size_t code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// Rounded to `decimals` places: a second of charts is ~20 columns of 300 numbers, and a float's
// 17 digits would make the document 3x longer for nothing a chart shows.
double Round(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

json Optional(const std::optional<double>& value, int decimals, double scale = 1) {
  return value.has_value() ? json(Round(*value * scale, decimals)) : json(nullptr);
}

json ModelJson(const ServedModel& model) {
  json subnets = json::array();
  for (const SubnetMeta& subnet : model.metadata->subnets) {
    subnets.push_back({{"id", subnet.id},
                       {"name", subnet.name},
                       {"macs", subnet.macs},
                       {"params", subnet.params},
                       {"test_accuracy", subnet.test_accuracy}});
  }
  return {{"name", model.metadata->model_name},
          {"quantizer", model.metadata->quantizer},
          {"generation", model.generation},
          {"policy", model.policy},
          {"subnets", std::move(subnets)}};
}

json TotalsJson(const MetricsSnapshot& latest, absl::Time time) {
  json by_code = json::object();
  for (size_t code = 0; code < latest.requests_by_code.size(); ++code) {
    if (latest.requests_by_code[code] > 0) by_code[CodeName(code)] = latest.requests_by_code[code];
  }
  json slo = json::object();
  for (size_t outcome = 0; outcome < latest.slo_by_outcome.size(); ++outcome) {
    slo[kOutcomeNames[outcome]] = latest.slo_by_outcome[outcome];
  }
  json subnets = json::object();
  for (const auto& [id, requests] : latest.subnet_requests) subnets[std::to_string(id)] = requests;
  return {{"time_unix_ms", absl::ToUnixMillis(time)},
          {"requests_by_code", std::move(by_code)},
          {"slo", std::move(slo)},
          {"subnet_requests", std::move(subnets)},
          {"request_duration_count", latest.request_seconds.count},
          {"request_duration_sum_s", latest.request_seconds.sum},
          {"batches", latest.batch_size.count},
          {"queue_depth", latest.queue_depth}};
}

json SeriesJson(const ServedModel& model, const std::vector<StatusPoint>& points) {
  // Columns only for the codes and sub-nets that have something to draw, besides OK and the
  // current model's sub-nets, which always do (a flat zero is information too).
  std::set<size_t> codes = {static_cast<size_t>(absl::StatusCode::kOk)};
  std::set<int> subnet_ids;
  for (const SubnetMeta& subnet : model.metadata->subnets) subnet_ids.insert(subnet.id);
  for (const StatusPoint& point : points) {
    for (size_t code = 0; code < point.requests_per_s.size(); ++code) {
      if (point.requests_per_s[code] > 0) codes.insert(code);
    }
    for (const auto& [id, rate] : point.subnet_requests_per_s) {
      if (rate > 0) subnet_ids.insert(id);
    }
  }
  json time = json::array(), attainment = json::array(), p50 = json::array(), p99 = json::array(),
       queue = json::array(), batch = json::array(), accuracy = json::array();
  json by_code = json::object(), by_subnet = json::object();
  for (size_t code : codes) by_code[CodeName(code)] = json::array();
  for (int id : subnet_ids) by_subnet[std::to_string(id)] = json::array();
  for (const StatusPoint& point : points) {
    time.push_back(absl::ToUnixMillis(point.time));
    for (size_t code : codes)
      by_code[CodeName(code)].push_back(Round(point.requests_per_s[code], 3));
    attainment.push_back(Optional(point.slo_attainment, 5));
    p50.push_back(Optional(point.p50_seconds, 4, 1e3));
    p99.push_back(Optional(point.p99_seconds, 4, 1e3));
    queue.push_back(point.queue_depth);
    for (int id : subnet_ids) {
      const auto it = point.subnet_requests_per_s.find(id);
      by_subnet[std::to_string(id)].push_back(
          Round(it == point.subnet_requests_per_s.end() ? 0.0 : it->second, 3));
    }
    batch.push_back(Optional(point.mean_batch_size, 3));
    accuracy.push_back(Optional(point.mean_served_accuracy, 5));
  }
  return {{"time_unix_ms", std::move(time)},
          {"requests_per_s", std::move(by_code)},
          {"slo_attainment", std::move(attainment)},
          {"p50_ms", std::move(p50)},
          {"p99_ms", std::move(p99)},
          {"queue_depth", std::move(queue)},
          {"subnet_requests_per_s", std::move(by_subnet)},
          {"mean_batch_size", std::move(batch)},
          {"mean_served_accuracy", std::move(accuracy)}};
}

}  // namespace

std::string StatusJson(const StatusServerInfo& server, const ServedModel& model,
                       const std::vector<StatusPoint>& points,
                       const std::optional<MetricsSnapshot>& latest, absl::Time latest_time) {
  const json document = {
      {"server",
       {{"version", server.version},
        {"engine", server.engine},
        {"isa", server.isa},
        {"workers", server.workers},
        {"max_batch", server.max_batch},
        {"default_slo_ms", server.default_slo_ms}}},
      {"model", ModelJson(model)},
      {"sample_period_s", 1},
      {"totals", latest.has_value() ? TotalsJson(*latest, latest_time) : json(nullptr)},
      {"series", SeriesJson(model, points)}};
  return document.dump();
}

}  // namespace ternserve
