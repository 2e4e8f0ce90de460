// Schedule logs. See schedule_log.h.
#include "scheduler/schedule_log.h"

#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/text_file.h"

namespace ternserve {
namespace {

constexpr absl::string_view kMagic = "# ternserve schedule log, version 1";
constexpr int64_t kIntMax = std::numeric_limits<int>::max();

bool FitsInt(int64_t v) { return v >= std::numeric_limits<int>::min() && v <= kIntMax; }

// Parses `fields` (after the tag) as `n` integers into `out`.
bool Integers(const std::vector<absl::string_view>& fields, size_t n, int64_t* out) {
  if (fields.size() != n + 1) return false;
  for (size_t i = 0; i < n; ++i) {
    if (!absl::SimpleAtoi(fields[i + 1], &out[i])) return false;
  }
  return true;
}

}  // namespace

double ScheduleLog::attainment() const {
  if (requests.empty()) return 0;
  int64_t met = 0;
  for (const Batch& b : batches) met += b.met;
  return static_cast<double>(met) / static_cast<double>(requests.size());
}

std::string ScheduleLogToText(const ScheduleLog& log) {
  std::string out =
      absl::StrCat(kMagic, "\n", "policy ", log.policy, "\nworkers ", log.workers, "\nlate ",
                   log.late, "\nadapt_latency ", log.adapt_latency ? 1 : 0, "\nmax_batch ",
                   log.max_batch, "\nmax_queue ", log.max_queue, "\nmax_queue_delay_us ",
                   log.max_queue_delay_us, "\ntruncated ", log.truncated ? 1 : 0, "\n");
  for (const ScheduleLog::Request& r : log.requests) {
    absl::StrAppend(&out, "A ", r.arrival_ns, " ", r.enqueued_ns, " ", r.deadline_ns, "\n");
  }
  for (const ScheduleLog::Batch& b : log.batches) {
    absl::StrAppend(&out, "B ", b.decided_ns, " ", b.started_ns, " ", b.finished_ns, " ", b.free_ns,
                    " ", b.subnet_id, " ", b.size, " ", b.met, " ", b.late ? 1 : 0, "\n");
  }
  for (const ScheduleLog::Drop& d : log.drops) {
    absl::StrAppend(&out, "D ", d.time_ns, " ", d.count, "\n");
  }
  absl::StrAppend(&out, "C ", log.cancelled, "\n");
  return out;
}

absl::StatusOr<ScheduleLog> ParseScheduleLog(absl::string_view text, absl::string_view source) {
  ScheduleLog log;
  int line_number = 0;
  bool magic = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line_number == 1) {
      magic = line == kMagic;
      if (!magic) break;
      continue;
    }
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.empty()) continue;
    const std::string where = absl::StrCat(source, ":", line_number, ": ");
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(where, what));
    };
    int64_t v[8];
    if (f[0] == "A") {
      // A deadline may precede the enqueue: a request that waited to be read past its deadline.
      if (!Integers(f, 3, v) || v[1] < v[0]) {
        return bad("expected 'A <arrival_ns> <enqueued_ns> <deadline_ns>', enqueued >= arrival");
      }
      log.requests.push_back({v[0], v[1], v[2]});
    } else if (f[0] == "B") {
      if (!Integers(f, 8, v) || !(v[0] <= v[1] && v[1] <= v[2] && v[2] <= v[3]) || !FitsInt(v[4]) ||
          v[5] < 1 || v[5] > kIntMax || v[6] < 0 || v[6] > v[5] || (v[7] != 0 && v[7] != 1)) {
        return bad(
            "expected 'B <decided_ns> <started_ns> <finished_ns> <free_ns> <subnet> <size> <met> "
            "<late>' with times in that order, 0 <= met <= size and int-sized counts");
      }
      log.batches.push_back({v[0], v[1], v[2], v[3], static_cast<int>(v[4]), static_cast<int>(v[5]),
                             static_cast<int>(v[6]), v[7] == 1});
    } else if (f[0] == "D") {
      if (!Integers(f, 2, v) || v[1] < 1 || v[1] > kIntMax) {
        return bad("expected 'D <time_ns> <count>' with 1 <= count < 2^31");
      }
      log.drops.push_back({v[0], static_cast<int>(v[1])});
    } else if (f[0] == "C") {
      if (!Integers(f, 1, v) || v[0] < 0) return bad("expected 'C <count>'");
      log.cancelled = v[0];
    } else if (f.size() == 2 && f[0] == "policy") {
      log.policy = std::string(f[1]);
    } else if (f.size() == 2 && f[0] == "late") {
      log.late = std::string(f[1]);
    } else if (f.size() == 2 &&
               (f[0] == "workers" || f[0] == "adapt_latency" || f[0] == "max_batch" ||
                f[0] == "max_queue" || f[0] == "max_queue_delay_us" || f[0] == "truncated")) {
      // Every header count is an int but max_queue_delay_us, an int64 bounded like a time.
      const int64_t most = f[0] == "max_queue_delay_us" ? (int64_t{1} << 40) : kIntMax;
      if (!absl::SimpleAtoi(f[1], &v[0]) || v[0] < 0 || v[0] > most) {
        return bad(absl::StrCat(f[0], " '", f[1], "' is not a count (0 to ", most, ")"));
      }
      if (f[0] == "workers") log.workers = static_cast<int>(v[0]);
      if (f[0] == "adapt_latency") log.adapt_latency = v[0] != 0;
      if (f[0] == "max_batch") log.max_batch = static_cast<int>(v[0]);
      if (f[0] == "max_queue") log.max_queue = static_cast<int>(v[0]);
      if (f[0] == "max_queue_delay_us") log.max_queue_delay_us = v[0];
      if (f[0] == "truncated") log.truncated = v[0] != 0;
    } else {
      return bad(absl::StrCat("unknown record '", f[0].substr(0, 40), "'"));
    }
  }
  if (!magic) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a schedule log (the first line is not '", kMagic, "')"));
  }
  if (log.policy.empty() || log.workers < 1) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no policy or workers line"));
  }
  int64_t taken = 0;  // requests in batches or dropped: each accepted request at most once
  for (const ScheduleLog::Batch& b : log.batches) taken += b.size;
  for (const ScheduleLog::Drop& d : log.drops) taken += d.count;
  if (taken > static_cast<int64_t>(log.requests.size())) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": its batches and drops take ", taken,
                                                   " requests, more than the ", log.requests.size(),
                                                   " accepted"));
  }
  return log;
}

absl::StatusOr<ScheduleLog> LoadScheduleLog(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path, "schedule log");
  if (!text.ok()) return text.status();
  return ParseScheduleLog(*text, path);
}

absl::Status SaveScheduleLog(const ScheduleLog& log, const std::string& path) {
  return WriteFileAtomically(path, ScheduleLogToText(log));
}

ScheduleRecorder::ScheduleRecorder(const ScheduleLog& settings, absl::Time origin,
                                   int64_t max_requests)
    : origin_(origin), max_requests_(max_requests) {
  absl::MutexLock lock(&mu_);
  log_ = settings;
  log_.requests.clear();
  log_.batches.clear();
  log_.drops.clear();
  log_.cancelled = 0;
  log_.truncated = false;
}

void ScheduleRecorder::OnEnqueued(absl::Time arrival, absl::Time enqueued, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (static_cast<int64_t>(log_.requests.size()) >= max_requests_) {
    log_.truncated = true;
    return;
  }
  log_.requests.push_back({Ns(arrival), Ns(enqueued), Ns(deadline)});
}

int64_t ScheduleRecorder::OnDecided(absl::Time decided, int subnet_id, int size, bool late) {
  absl::MutexLock lock(&mu_);
  if (log_.truncated) return -1;
  log_.batches.push_back({Ns(decided), 0, 0, 0, subnet_id, size, 0, late});
  return static_cast<int64_t>(log_.batches.size()) - 1;
}

void ScheduleRecorder::OnBatchDone(int64_t index, absl::Time started, absl::Time finished,
                                   absl::Time free, int met) {
  absl::MutexLock lock(&mu_);
  if (index < 0 || index >= static_cast<int64_t>(log_.batches.size())) return;
  ScheduleLog::Batch& b = log_.batches[static_cast<size_t>(index)];
  b.started_ns = Ns(started);
  b.finished_ns = Ns(finished);
  b.free_ns = Ns(free);
  b.met = met;
}

void ScheduleRecorder::OnDropped(absl::Time time, int count) {
  absl::MutexLock lock(&mu_);
  if (!log_.truncated && count > 0) log_.drops.push_back({Ns(time), count});
}

void ScheduleRecorder::OnCancelled(int count) {
  absl::MutexLock lock(&mu_);
  log_.cancelled += count;
}

ScheduleLog ScheduleRecorder::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

}  // namespace ternserve
