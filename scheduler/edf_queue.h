// EdfQueue: a bounded earliest-deadline-first queue, the one queue both the Dispatcher and the
// simulator use. A binary heap over (deadline, arrival order): push and pop are O(log n), and
// requests with equal deadlines leave in arrival order.
//
// `Payload` is what the user keeps per request (the Dispatcher: std::unique_ptr<Task>; the
// simulator: nothing). It must be movable. Entries live in one vector that only grows, so a
// steady state allocates nothing.
//
// Not thread-safe: the owner serializes access (the Dispatcher holds its mutex).
#ifndef TERNSERVE_SCHEDULER_EDF_QUEUE_H_
#define TERNSERVE_SCHEDULER_EDF_QUEUE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "scheduler/policy.h"

namespace ternserve {

template <typename Payload>
class EdfQueue {
 public:
  struct Entry {
    absl::Time deadline;
    absl::Time arrival;
    uint64_t sequence;  // arrival order, breaks deadline ties
    Payload payload;
  };

  // capacity >= 0: requests the queue holds at most.
  explicit EdfQueue(int capacity) : capacity_(std::max(0, capacity)) {
    heap_.reserve(static_cast<size_t>(std::min(capacity_, 1 << 16)));
  }

  int capacity() const { return capacity_; }
  int size() const { return static_cast<int>(heap_.size()); }
  bool empty() const { return heap_.empty(); }
  bool full() const { return size() >= capacity_; }

  // How far back QueueView::arrival_rate looks: long enough to average a hundred arrivals at the
  // rates where it matters (thousands per second), short enough to see a burst of a few hundred
  // milliseconds within its first tenth. In the simulator (bench/drift_eval) 10, 30 and 100 ms
  // differed by at most 2 points of attainment under bursts, and not in accuracy.
  static constexpr absl::Duration kRateTimeConstant = absl::Milliseconds(30);

  // Adds a request. False (and `payload` untouched) if the queue is full; a refused arrival still
  // counts in the arrival rate (it is load the policy must know of).
  bool Push(absl::Time arrival, absl::Time deadline, Payload&& payload) {
    CountArrival(arrival);
    if (full()) return false;
    heap_.push_back(Entry{deadline, arrival, next_sequence_++, std::move(payload)});
    std::push_heap(heap_.begin(), heap_.end(), LessUrgent);
    return true;
  }

  // The most urgent request. Requires !empty().
  const Entry& top() const { return heap_.front(); }

  // Removes and returns the most urgent request. Requires !empty().
  Entry Pop() {
    std::pop_heap(heap_.begin(), heap_.end(), LessUrgent);
    Entry entry = std::move(heap_.back());
    heap_.pop_back();
    return entry;
  }

  // Moves every entry whose payload satisfies `pred` to `removed` (appended, in no particular
  // order) and keeps the rest in EDF order. O(n): meant for rare sweeps (cancellations).
  template <typename Pred>
  void RemoveIf(Pred pred, std::vector<Entry>* removed) {
    const auto kept = std::partition(heap_.begin(), heap_.end(),
                                     [&pred](const Entry& e) { return !pred(e.payload); });
    if (kept == heap_.end()) return;
    for (auto it = kept; it != heap_.end(); ++it) removed->push_back(std::move(*it));
    heap_.erase(kept, heap_.end());
    std::make_heap(heap_.begin(), heap_.end(), LessUrgent);
  }

  // What a policy sees at `now`. Requires !empty().
  QueueView View(absl::Time now, bool flush) const {
    return QueueView{size(), top().deadline, top().arrival, flush, ArrivalRate(now)};
  }

  // Requests/s lately, as of `now` (QueueView::arrival_rate).
  double ArrivalRate(absl::Time now) const {
    if (rate_per_s_ == 0) return 0;
    const double dt = absl::ToDoubleSeconds(now - last_arrival_);
    return dt > 0 ? rate_per_s_ * std::exp(-dt / kTau) : rate_per_s_;
  }

 private:
  static constexpr double kTau = 0.030;  // kRateTimeConstant in seconds

  // The rate decays by exp(-dt / tau) between arrivals, and each arrival adds 1 / tau: a steady
  // stream at rate r keeps it at r. Arrivals a little out of order (front-end threads) count as
  // simultaneous.
  void CountArrival(absl::Time arrival) {
    const double dt = std::max(0.0, absl::ToDoubleSeconds(arrival - last_arrival_));
    rate_per_s_ = (rate_per_s_ == 0 ? 0 : rate_per_s_ * std::exp(-dt / kTau)) + 1 / kTau;
    last_arrival_ = std::max(last_arrival_, arrival);
  }

  static bool LessUrgent(const Entry& a, const Entry& b) {
    if (a.deadline != b.deadline) return a.deadline > b.deadline;
    return a.sequence > b.sequence;
  }

  const int capacity_;
  uint64_t next_sequence_ = 0;
  double rate_per_s_ = 0;
  absl::Time last_arrival_ = absl::InfinitePast();
  std::vector<Entry> heap_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_EDF_QUEUE_H_
