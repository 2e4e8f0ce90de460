// InferenceStatistics. See inference_statistics.h.
#include "server/inference_statistics.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace ternserve {

void DurationStat::Add(absl::Duration d, uint64_t times) {
  count += times;
  ns += static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Nanoseconds(d)));
}

void InferenceStatistics::OnBatchDone(int /*subnet_id*/, int batch_size,
                                      absl::Duration compute_time) {
  absl::MutexLock lock(&mu_);
  ++stats_.execution_count;
  stats_.batches[batch_size].Add(compute_time);
}

void InferenceStatistics::OnAnswered(const std::vector<ImageResult>& results, bool ok,
                                     absl::Duration request_time, absl::Time answered) {
  absl::MutexLock lock(&mu_);
  (ok ? stats_.success : stats_.fail).Add(request_time);
  for (const ImageResult& image : results) {
    if (image.outcome.batch_size == 0) continue;  // never ran
    stats_.queue.Add(image.outcome.queue_time);
    stats_.compute_infer.Add(image.outcome.compute_time);
  }
  if (ok) stats_.inference_count += results.size();
  stats_.last_inference_ms =
      static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(answered)));
}

InferenceStatisticsSnapshot InferenceStatistics::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

DispatcherObserverList::DispatcherObserverList(std::vector<DispatcherObserver*> observers)
    : observers_([&] {
        std::vector<DispatcherObserver*> kept;
        std::copy_if(observers.begin(), observers.end(), std::back_inserter(kept),
                     [](DispatcherObserver* o) { return o != nullptr; });
        return kept;
      }()) {}

void DispatcherObserverList::OnQueueDepth(int depth) {
  for (DispatcherObserver* o : observers_) o->OnQueueDepth(depth);
}

void DispatcherObserverList::OnBatchDone(int subnet_id, int batch_size,
                                         absl::Duration compute_time) {
  for (DispatcherObserver* o : observers_) o->OnBatchDone(subnet_id, batch_size, compute_time);
}

void DispatcherObserverList::OnLatencyScale(double scale) {
  for (DispatcherObserver* o : observers_) o->OnLatencyScale(scale);
}

}  // namespace ternserve
