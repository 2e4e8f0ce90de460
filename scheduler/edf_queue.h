// EdfQueue: a bounded earliest-deadline-first queue, the one queue both the Dispatcher and the
// simulator use. A binary heap over (deadline, arrival order): push and pop are O(log n), and
// requests with equal deadlines leave in arrival order.
//
// `Payload` is what the user keeps per request (the Dispatcher: std::unique_ptr<Task>; the
// simulator: nothing). It must be movable. Entries live in one vector that only grows, so a
// steady state allocates nothing.
//
// Accuracy floors: each entry carries its request's floor (Task::min_accuracy; 0 = none), and the
// queue counts the entries of each floor above 0, so that a policy can ask how many requests a
// sub-net may serve (QueueView::Servable) without a walk, and PopServable takes a batch for a
// sub-net in EDF order, passing over requests whose floor is above it. A queue with no floors
// costs nothing more than before: an empty map.
//
// Not thread-safe: the owner serializes access (the Dispatcher holds its mutex).
#ifndef TERNSERVE_SCHEDULER_EDF_QUEUE_H_
#define TERNSERVE_SCHEDULER_EDF_QUEUE_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
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
    double min_accuracy = 0;  // the request's accuracy floor; 0: none
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

  // Adds a request with accuracy floor `min_accuracy` (0: none). False (and `payload` untouched)
  // if the queue is full; a refused arrival still counts in the arrival rate (it is load the
  // policy must know of).
  bool Push(absl::Time arrival, absl::Time deadline, Payload&& payload, double min_accuracy = 0) {
    CountArrival(arrival);
    if (full()) return false;
    PushEntry(Entry{deadline, arrival, next_sequence_++, std::move(payload), min_accuracy});
    return true;
  }

  // The most urgent request. Requires !empty().
  const Entry& top() const { return heap_.front(); }

  // Removes and returns the most urgent request. Requires !empty().
  Entry Pop() {
    std::pop_heap(heap_.begin(), heap_.end(), LessUrgent);
    Entry entry = std::move(heap_.back());
    heap_.pop_back();
    Uncount(entry.min_accuracy);
    return entry;
  }

  // Whether any queued request has a floor above 0.
  bool has_floors() const { return !floors_.empty(); }

  // Whether a sub-net of expected accuracy `accuracy` may serve an entry of floor `min_accuracy`.
  static bool Serves(double accuracy, double min_accuracy) {
    return min_accuracy <= 0 || min_accuracy <= accuracy;
  }

  // Pops up to `n` entries a sub-net of expected accuracy `accuracy` may serve (Serves) into `out`
  // (appended): the most urgent such entry (the head the policy chose for), then those with a floor
  // above 0, in EDF order, then those without one, in EDF order. A batch on a sub-net accurate
  // enough for floored requests is where they can be served, while a request without a floor can
  // go on any batch, the next fast one included; filled in plain EDF order, such a batch spends
  // its places on requests without a floor and leaves the floored ones to wait for the next
  // accurate batch, with less slack. Measured (bench/floor_eval, 30% of the requests at a floor 1
  // point below the best sub-net, 0.7x the mix's capacity): 99.16% -> 100% of SLOs met under
  // Poisson arrivals, 98.66% -> 99.9997% under gamma cv2 = 4. The search for floored entries
  // looks at most kFloorScan x n + kFloorScanExtra entries deep.
  //
  // The entries passed over stay queued, in their order, but for those `hopeless(entry)` says can
  // no longer be served in time: they go to `dropped` (appended). O(entries looked at x log size).
  template <typename HopelessPred>
  void PopServable(int n, double accuracy, HopelessPred hopeless, std::vector<Entry>* out,
                   std::vector<Entry>* dropped) {
    passed_over_.clear();
    spare_.clear();
    int taken = 0;
    const auto take = [&](Entry&& entry) {
      out->push_back(std::move(entry));
      ++taken;
    };
    const auto pass_over = [&](Entry&& entry) {
      (hopeless(entry) ? dropped : &passed_over_)->push_back(std::move(entry));
    };
    // The head: the first entry the sub-net may serve.
    while (taken == 0 && !empty()) {
      Entry entry = Pop();
      if (Serves(accuracy, entry.min_accuracy)) {
        take(std::move(entry));
      } else {
        pass_over(std::move(entry));
      }
    }
    // The floored entries it may serve, setting aside those without a floor on the way.
    int floored = FlooredUpTo(accuracy);
    for (int looked = 0;
         taken < n && floored > 0 && !empty() && looked < kFloorScan * n + kFloorScanExtra;
         ++looked) {
      Entry entry = Pop();
      if (!Serves(accuracy, entry.min_accuracy)) {
        pass_over(std::move(entry));
      } else if (entry.min_accuracy > 0) {
        --floored;
        take(std::move(entry));
      } else {
        spare_.push_back(std::move(entry));
      }
    }
    // Then those without a floor: the ones set aside (the most urgent), then the rest of the queue.
    for (Entry& entry : spare_) {
      if (taken < n) {
        take(std::move(entry));
      } else {
        passed_over_.push_back(std::move(entry));
      }
    }
    spare_.clear();
    while (taken < n && !empty()) {
      Entry entry = Pop();
      if (Serves(accuracy, entry.min_accuracy)) {
        take(std::move(entry));
      } else {
        pass_over(std::move(entry));
      }
    }
    for (Entry& entry : passed_over_) PushEntry(std::move(entry));  // sequence kept: same order
    passed_over_.clear();
  }

  // How deep PopServable looks for floored entries: kFloorScan x the batch + kFloorScanExtra.
  static constexpr int kFloorScan = 8;
  static constexpr int kFloorScanExtra = 64;

  // Moves every entry whose payload satisfies `pred` to `removed` (appended, in no particular
  // order) and keeps the rest in EDF order. O(n): meant for rare sweeps (cancellations).
  template <typename Pred>
  void RemoveIf(Pred pred, std::vector<Entry>* removed) {
    const auto kept = std::partition(heap_.begin(), heap_.end(),
                                     [&pred](const Entry& e) { return !pred(e.payload); });
    if (kept == heap_.end()) return;
    for (auto it = kept; it != heap_.end(); ++it) {
      Uncount(it->min_accuracy);
      removed->push_back(std::move(*it));
    }
    heap_.erase(kept, heap_.end());
    std::make_heap(heap_.begin(), heap_.end(), LessUrgent);
  }

  // What a policy sees at `now`. Requires !empty().
  QueueView View(absl::Time now, bool flush) const {
    return QueueView{size(),
                     top().deadline,
                     top().arrival,
                     flush,
                     ArrivalRate(now),
                     std::max(0.0, top().min_accuracy),
                     floors_.empty() ? nullptr : &floors_};
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

  void PushEntry(Entry&& entry) {
    if (entry.min_accuracy > 0) ++floors_[entry.min_accuracy];
    heap_.push_back(std::move(entry));
    std::push_heap(heap_.begin(), heap_.end(), LessUrgent);
  }

  // Queued entries with a floor above 0 and at most `accuracy`.
  int FlooredUpTo(double accuracy) const {
    int n = 0;
    for (auto it = floors_.begin(); it != floors_.end() && it->first <= accuracy; ++it) {
      n += it->second;
    }
    return n;
  }

  void Uncount(double min_accuracy) {
    if (min_accuracy <= 0) return;
    auto it = floors_.find(min_accuracy);
    if (it != floors_.end() && --it->second == 0) floors_.erase(it);
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
  std::map<double, int> floors_;  // floor above 0 -> entries queued with it
  // PopServable's scratch, kept for their capacity.
  std::vector<Entry> passed_over_;
  std::vector<Entry> spare_;
};

}  // namespace ternserve

#endif  // TERNSERVE_SCHEDULER_EDF_QUEUE_H_
