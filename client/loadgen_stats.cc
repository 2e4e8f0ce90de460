// Load generator statistics. See loadgen_stats.h.
#include "client/loadgen_stats.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ternserve {

absl::Status WriteRecordsCsv(absl::Span<const RequestRecord> records,
                             absl::Span<const std::string> backends, const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("--records=", path, ": cannot write: ", std::strerror(errno)));
  }
  std::fputs("arrival_ms,sent_ms,done_ms,slo_ms,code,deadline_met,expired_in_client,backend\n",
             file);
  for (const RequestRecord& r : records) {
    if (r.sent_ns == 0 && r.arrival_ns != 0) continue;  // never sent (the run was interrupted)
    // A peer address ("ipv4:127.0.0.1:8001", "ipv6:[::1]:8001") holds no comma or quote.
    const char* backend =
        r.backend >= 1 && r.backend <= backends.size() ? backends[r.backend - 1].c_str() : "";
    std::fprintf(file, "%.3f,%.3f,%.3f,%g,%d,%d,%d,%s\n", r.arrival_ns * 1e-6, r.sent_ns * 1e-6,
                 r.done_ns * 1e-6, static_cast<double>(r.slo_ms), r.code, r.deadline_met ? 1 : 0,
                 r.expired_in_client ? 1 : 0, backend);
  }
  const bool failed = std::ferror(file) != 0;
  if (std::fclose(file) != 0 || failed) {
    return absl::DataLossError(absl::StrCat("--records=", path, ": write failed"));
  }
  return absl::OkStatus();
}

double Percentile(std::vector<double>* values, double q) {
  if (values->empty()) return 0;
  std::sort(values->begin(), values->end());
  const double rank = std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(values->size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return (*values)[std::min(index, values->size() - 1)];
}

LoadgenReport Summarize(absl::Span<const RequestRecord> records, const RunInfo& info) {
  LoadgenReport report;
  report.info = info;
  report.sent = static_cast<int64_t>(records.size());
  for (const std::string& address : info.backends) report.backends.push_back({address, 0, 0});
  for (double floor : info.floors) report.floors.push_back({floor});
  std::vector<double> latency_ms, queue_ms, compute_ms, outside_ms;
  std::map<int, int64_t> subnet_counts;
  int64_t met_slo = 0, correct = 0, deadline_met = 0;
  double expected_sum = 0;
  int64_t first_send_ns = 0, last_done_ns = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const RequestRecord& r = records[i];
    if (i == 0 || r.sent_ns < first_send_ns) first_send_ns = r.sent_ns;
    if (r.code == RequestRecord::kNoResponse) {
      ++report.errors_by_code["NO_RESPONSE"];
      continue;
    }
    last_done_ns = std::max(last_done_ns, r.done_ns);
    FloorShare* floor =
        r.floor >= 1 && r.floor <= report.floors.size() ? &report.floors[r.floor - 1] : nullptr;
    if (floor != nullptr) {
      ++floor->sent;
      if (r.code == static_cast<int32_t>(absl::StatusCode::kOutOfRange)) ++floor->out_of_range;
      if (r.code == static_cast<int32_t>(absl::StatusCode::kDeadlineExceeded)) {
        ++floor->deadline_exceeded;
      }
      if (r.code == 0) {
        // The answer's accuracy came as a float: compare with the floor rounded the same way, so
        // that a floor equal to a sub-net's accuracy is met.
        floor->min_served_accuracy =
            floor->ok == 0
                ? r.expected_accuracy
                : std::min(floor->min_served_accuracy, static_cast<double>(r.expected_accuracy));
        ++floor->ok;
        if (static_cast<double>(r.done_ns - r.sent_ns) / 1e6 <= r.slo_ms) ++floor->met_slo;
        if (r.expected_accuracy < static_cast<float>(floor->min_accuracy)) ++floor->violations;
      }
    }
    if (r.backend >= 1 && r.backend <= report.backends.size()) {
      BackendShare& share = report.backends[r.backend - 1];
      ++share.answered;
      if (r.code == 0) ++share.ok;
    }
    if (r.code != 0) {
      ++report.errors_by_code[absl::StatusCodeToString(static_cast<absl::StatusCode>(r.code))];
      if (r.expired_in_client) ++report.expired_in_client;
      continue;
    }
    ++report.ok;
    const double ms = static_cast<double>(r.done_ns - r.sent_ns) / 1e6;
    latency_ms.push_back(ms);
    if (ms <= r.slo_ms) ++met_slo;
    if (r.correct) ++correct;
    if (r.deadline_met) ++deadline_met;
    expected_sum += r.expected_accuracy;
    ++subnet_counts[r.subnet_id];
    queue_ms.push_back(static_cast<double>(r.queue_us) / 1e3);
    compute_ms.push_back(static_cast<double>(r.compute_us) / 1e3);
    outside_ms.push_back(ms - static_cast<double>(r.queue_us + r.compute_us) / 1e3);
  }
  if (report.sent > 0) {
    report.slo_attainment = static_cast<double>(met_slo) / static_cast<double>(report.sent);
  }
  if (report.ok > 0) {
    const double ok = static_cast<double>(report.ok);
    report.measured_accuracy = static_cast<double>(correct) / ok;
    report.expected_accuracy = expected_sum / ok;
    report.server_deadline_met = static_cast<double>(deadline_met) / ok;
    for (const auto& [id, count] : subnet_counts) {
      report.subnet_mix[id] = static_cast<double>(count) / ok;
    }
  }
  report.p50_ms = Percentile(&latency_ms, 0.50);
  report.p90_ms = Percentile(&latency_ms, 0.90);
  report.p99_ms = Percentile(&latency_ms, 0.99);
  report.server_queue_p50_ms = Percentile(&queue_ms, 0.50);
  report.server_compute_p50_ms = Percentile(&compute_ms, 0.50);
  report.outside_p50_ms = Percentile(&outside_ms, 0.50);
  report.outside_p99_ms = Percentile(&outside_ms, 0.99);
  if (last_done_ns > first_send_ns) {
    report.duration_s = static_cast<double>(last_done_ns - first_send_ns) / 1e9;
    report.throughput_rps = static_cast<double>(report.ok) / report.duration_s;
  }
  if (info.trace_duration_s > 0) {
    report.offered_rps = static_cast<double>(info.planned) / info.trace_duration_s;
  }
  for (const FloorShare& f : report.floors) report.floor_violations += f.violations;
  return report;
}

nlohmann::ordered_json ReportToJson(const LoadgenReport& r) {
  nlohmann::ordered_json errors = nlohmann::ordered_json::object();
  for (const auto& [code, count] : r.errors_by_code) errors[code] = count;
  nlohmann::ordered_json mix = nlohmann::ordered_json::object();
  for (const auto& [id, fraction] : r.subnet_mix) mix[std::to_string(id)] = fraction;
  nlohmann::ordered_json backends = nlohmann::ordered_json::array();
  for (const BackendShare& b : r.backends) {
    backends.push_back({{"address", b.address}, {"answered", b.answered}, {"ok", b.ok}});
  }
  nlohmann::ordered_json floors = nlohmann::ordered_json::array();
  for (const FloorShare& f : r.floors) {
    floors.push_back(
        {{"min_accuracy", f.min_accuracy},
         {"sent", f.sent},
         {"ok", f.ok},
         {"slo_attainment",
          f.sent > 0 ? static_cast<double>(f.met_slo) / static_cast<double>(f.sent) : 0.0},
         {"out_of_range", f.out_of_range},
         {"deadline_exceeded", f.deadline_exceeded},
         {"violations", f.violations},
         {"min_served_accuracy", f.min_served_accuracy}});
  }
  return {{"server", r.info.server},
          {"max_attempts", r.info.max_attempts},
          {"start_unix_ms", r.info.start_unix_ms},
          {"trace", r.info.trace},
          {"connections", r.info.connections},
          {"mode", r.info.mode},
          {"api", r.info.api},
          {"sent", r.sent},
          {"ok", r.ok},
          {"errors_by_code", errors},
          {"expired_in_client", r.expired_in_client},
          {"slo_attainment", r.slo_attainment},
          {"measured_accuracy", r.measured_accuracy},
          {"expected_accuracy", r.expected_accuracy},
          {"p50_ms", r.p50_ms},
          {"p90_ms", r.p90_ms},
          {"p99_ms", r.p99_ms},
          {"throughput_rps", r.throughput_rps},
          {"offered_rps", r.offered_rps},
          {"duration_s", r.duration_s},
          {"max_send_lag_ms", r.info.max_send_lag_ms},
          {"subnet_mix", mix},
          {"server_queue_p50_ms", r.server_queue_p50_ms},
          {"server_compute_p50_ms", r.server_compute_p50_ms},
          {"server_deadline_met", r.server_deadline_met},
          {"outside_p50_ms", r.outside_p50_ms},
          {"outside_p99_ms", r.outside_p99_ms},
          {"backends", backends},
          {"floors", floors},
          {"floor_violations", r.floor_violations}};
}

std::string ReportToText(const LoadgenReport& r) {
  int64_t errors = 0;
  std::string error_list;
  for (const auto& [code, count] : r.errors_by_code) {
    errors += count;
    absl::StrAppend(&error_list, error_list.empty() ? "" : ", ", code, " ", count);
  }
  std::string mix;
  for (const auto& [id, fraction] : r.subnet_mix) {
    absl::StrAppendFormat(&mix, "%s%d: %.1f%%", mix.empty() ? "" : ", ", id, 100 * fraction);
  }
  std::string replicas;
  int64_t answered = 0;
  for (const BackendShare& b : r.backends) answered += b.answered;
  for (const BackendShare& b : r.backends) {
    absl::StrAppendFormat(
        &replicas, "%s%s %.1f%% (%d, ok %d)", replicas.empty() ? "" : ", ", b.address,
        answered > 0 ? 100.0 * static_cast<double>(b.answered) / static_cast<double>(answered)
                     : 0.0,
        b.answered, b.ok);
  }
  std::string text = absl::StrFormat(
      "%s, %s\n"
      "trace %s over %d connections (%s), %s API\n"
      "sent %d  ok %d  errors %d%s%s\n"
      "offered %.1f rps  achieved %.1f rps over %.3f s  max send lag %.3f ms\n"
      "SLO attainment %.2f%%  latency p50 %.3f ms  p90 %.3f ms  p99 %.3f ms\n"
      "accuracy measured %.2f%%  expected %.2f%%  server deadline met %.2f%%\n"
      "server queue p50 %.3f ms  compute p50 %.3f ms  outside the server p50 %.3f ms  p99 %.3f "
      "ms\n"
      "sub-net mix: %s\n"
      "replicas: %s\n",
      r.info.server.empty() ? "server ?" : absl::StrCat("server ", r.info.server),
      r.info.max_attempts > 1
          ? absl::StrCat("up to ", r.info.max_attempts, " attempts a call (retries on UNAVAILABLE)")
          : "one attempt a call (no retries)",
      r.info.trace, r.info.connections, r.info.mode, r.info.api, r.sent, r.ok, errors,
      error_list.empty() ? "" : absl::StrCat(" (", error_list, ")"),
      r.expired_in_client == 0
          ? ""
          : absl::StrCat("; ", r.expired_in_client,
                         " DEADLINE_EXCEEDED from the client: their SLO ran out before they "
                         "could be written"),
      r.offered_rps, r.throughput_rps, r.duration_s, r.info.max_send_lag_ms, 100 * r.slo_attainment,
      r.p50_ms, r.p90_ms, r.p99_ms, 100 * r.measured_accuracy, 100 * r.expected_accuracy,
      100 * r.server_deadline_met, r.server_queue_p50_ms, r.server_compute_p50_ms, r.outside_p50_ms,
      r.outside_p99_ms, mix.empty() ? "none" : mix, replicas.empty() ? "none" : replicas);
  for (const FloorShare& f : r.floors) {
    absl::StrAppendFormat(
        &text,
        "floor %.4f: sent %d  ok %d  SLO attainment %.2f%%  refused OUT_OF_RANGE "
        "%d, DEADLINE_EXCEEDED %d  served at >= %.4f  violations %d\n",
        f.min_accuracy, f.sent, f.ok,
        f.sent > 0 ? 100.0 * static_cast<double>(f.met_slo) / static_cast<double>(f.sent) : 0.0,
        f.out_of_range, f.deadline_exceeded, f.min_served_accuracy, f.violations);
  }
  return text;
}

int LatencyHistogram::BucketOf(uint64_t us) {
  if (us < 16) return static_cast<int>(us);
  const int msb = 63 - __builtin_clzll(us);  // >= 4
  return std::min(kBuckets - 1, (msb - 3) * 16 + static_cast<int>((us >> (msb - 4)) & 15));
}

uint64_t LatencyHistogram::BucketLowerUs(int bucket) {
  if (bucket < 16) return static_cast<uint64_t>(bucket);
  const int msb = bucket / 16 + 3;
  return static_cast<uint64_t>(16 + bucket % 16) << (msb - 4);
}

void LatencyHistogram::Record(int64_t latency_ns) {
  const uint64_t us = latency_ns > 0 ? static_cast<uint64_t>(latency_ns) / 1000 : 0;
  counts_[BucketOf(us)].fetch_add(1, std::memory_order_relaxed);
}

double LatencyHistogram::QuantileMs(double q) const {
  std::array<uint64_t, kBuckets> snapshot;
  uint64_t total = 0;
  for (int b = 0; b < kBuckets; ++b) {
    snapshot[b] = counts_[b].load(std::memory_order_relaxed);
    total += snapshot[b];
  }
  if (total == 0) return 0;
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(total))));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += snapshot[b];
    if (seen >= rank) return static_cast<double>(BucketLowerUs(b + 1)) / 1e3;
  }
  return static_cast<double>(BucketLowerUs(kBuckets)) / 1e3;
}

}  // namespace ternserve
