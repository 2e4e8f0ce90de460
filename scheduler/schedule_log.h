// ScheduleLog: what a Dispatcher was given and what it decided, for replay in the simulator
// (ternserve --schedule_log, ternserve-sim --replay). It separates the two reasons a live run and
// a simulation disagree: the engine's speed (the log has every batch's measured times, and the
// replay runs each batch for exactly that long) and the scheduling itself (with the same arrivals
// and the same batch times, the simulator must make the same decisions).
//
// Recorded, with times in ns since the recorder's origin:
//   every accepted request: when it arrived (was read), when it was enqueued, and its deadline
//   (which may be earlier: a request read off the wire past its deadline);
//   every batch: when it was decided, when its compute started and finished, when the worker was
//   free again (its requests answered), its sub-net, size, how many met their deadline, late;
//   requests dropped as hopeless (when, how many), and those cancelled in the queue.
// Requests the queue refused are not in it (the replay's attainment is over accepted requests).
//
// The text format (version 1), one record per line:
//   # ternserve schedule log, version 1
//   policy <spec>  |  workers <n>  |  late <drop|serve>  |  adapt_latency <0|1>  |
//   max_batch <n>  |  max_queue <n>  |  max_queue_delay_us <n>  |  truncated <0|1>
//   A <arrival_ns> <enqueued_ns> <deadline_ns>
//   B <decided_ns> <started_ns> <finished_ns> <free_ns> <subnet> <size> <met> <late 0|1>
//   D <time_ns> <count>
//   C <count>
//
// ScheduleRecorder is thread-safe (its own lock); it keeps everything in memory until the owner
// writes it (the server does at exit) and stops recording past max_requests, marking the log
// truncated.
#ifndef TERNSERVE_SCHEDULER_SCHEDULE_LOG_H_
#define TERNSERVE_SCHEDULER_SCHEDULE_LOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ternserve {

struct ScheduleLog {
  // What the dispatcher ran with.
  std::string policy;
  int workers = 1;
  std::string late = "drop";
  bool adapt_latency = false;
  int max_batch = 0;
  int max_queue = 1024;
  int64_t max_queue_delay_us = 0;
  bool truncated = false;

  struct Request {
    int64_t arrival_ns = 0;
    int64_t enqueued_ns = 0;
    int64_t deadline_ns = 0;
  };
  struct Batch {
    int64_t decided_ns = 0, started_ns = 0, finished_ns = 0, free_ns = 0;
    int subnet_id = -1;
    int size = 0;
    int met = 0;
    bool late = false;
  };
  struct Drop {
    int64_t time_ns = 0;
    int count = 0;
  };
  std::vector<Request> requests;  // in enqueue order
  std::vector<Batch> batches;     // in decision order
  std::vector<Drop> drops;
  int64_t cancelled = 0;

  // Requests that met their deadline (the server's own verdict), over requests.
  double attainment() const;
};

std::string ScheduleLogToText(const ScheduleLog& log);
// INVALID_ARGUMENT "SOURCE:LINE: ..." for a malformed line, "SOURCE: ..." for a log whose batches
// and drops take more requests than it accepted.
absl::StatusOr<ScheduleLog> ParseScheduleLog(absl::string_view text, absl::string_view source);
absl::StatusOr<ScheduleLog> LoadScheduleLog(const std::string& path);
// Writes atomically (temp file + rename).
absl::Status SaveScheduleLog(const ScheduleLog& log, const std::string& path);

class ScheduleRecorder {
 public:
  // `settings`: the header fields (its vectors are ignored). Times count from `origin`.
  ScheduleRecorder(const ScheduleLog& settings, absl::Time origin, int64_t max_requests);

  void OnEnqueued(absl::Time arrival, absl::Time enqueued, absl::Time deadline);
  // Returns the batch's index for OnBatchDone; -1 once truncated.
  int64_t OnDecided(absl::Time decided, int subnet_id, int size, bool late);
  void OnBatchDone(int64_t index, absl::Time started, absl::Time finished, absl::Time free,
                   int met);
  void OnDropped(absl::Time time, int count);
  void OnCancelled(int count);

  ScheduleLog Snapshot() const;

 private:
  int64_t Ns(absl::Time t) const { return absl::ToInt64Nanoseconds(t - origin_); }

  const absl::Time origin_;
  const int64_t max_requests_;
  mutable absl::Mutex mu_;
  ScheduleLog log_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_SCHEDULE_LOG_H_
