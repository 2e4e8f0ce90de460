// InferenceStatistics: the Open Inference Protocol's per-model statistics (ModelStatistics), kept
// as real counts and nanoseconds since start, over every request of both APIs.
//
//   success / fail        requests the submitter took (RequestSubmitter), by their answer: count
//                         and arrival -> answer time
//   queue                 images that ran: count and arrival -> batch start
//   compute_infer         images that ran: count and their batch's engine time
//   inference_count       images answered OK
//   execution_count       batches run (DispatcherObserver::OnBatchDone)
//   batch_stats           per batch size: batches and their engine time
//   last_inference        when the last request was answered, ms since the epoch
//
// Thread-safe: one short lock per request and per batch.
#ifndef TERNSERVE_SERVER_INFERENCE_STATISTICS_H_
#define TERNSERVE_SERVER_INFERENCE_STATISTICS_H_

#include <cstdint>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/dispatcher_observer.h"
#include "server/classify_task.h"

namespace ternserve {

struct DurationStat {
  uint64_t count = 0;
  uint64_t ns = 0;

  void Add(absl::Duration d, uint64_t times = 1);
};

struct InferenceStatisticsSnapshot {
  DurationStat success;
  DurationStat fail;
  DurationStat queue;
  DurationStat compute_infer;
  uint64_t inference_count = 0;
  uint64_t execution_count = 0;
  uint64_t last_inference_ms = 0;
  std::map<int, DurationStat> batches;  // batch size -> batches and engine time
};

class InferenceStatistics final : public DispatcherObserver {
 public:
  // DispatcherObserver: counts the batch. OnQueueDepth is ignored.
  void OnQueueDepth(int /*depth*/) override {}
  void OnBatchDone(int subnet_id, int batch_size, absl::Duration compute_time) override;

  // A request was answered (OK or not, `ok`) at `answered`, `request_time` after its arrival;
  // `results` are its images'.
  void OnAnswered(const std::vector<ImageResult>& results, bool ok, absl::Duration request_time,
                  absl::Time answered);

  InferenceStatisticsSnapshot Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  InferenceStatisticsSnapshot stats_ ABSL_GUARDED_BY(mu_);
};

// Passes every call on to each observer, in order (e.g. the metrics and the statistics).
class DispatcherObserverList final : public DispatcherObserver {
 public:
  // Null entries are skipped. The observers are borrowed and must outlive this list.
  explicit DispatcherObserverList(std::vector<DispatcherObserver*> observers);

  void OnQueueDepth(int depth) override;
  void OnBatchDone(int subnet_id, int batch_size, absl::Duration compute_time) override;
  void OnLatencyScale(double scale) override;

 private:
  const std::vector<DispatcherObserver*> observers_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_INFERENCE_STATISTICS_H_
