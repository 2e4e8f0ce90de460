// TestTask and TaskLog: a scheduler Task for tests, and the thread-safe record of how each one
// finished. A test's BatchProcessor may write a result into a TestTask (set_result), as a real
// processor writes logits into its own task type, so a test can check that every task got its own
// result.
#ifndef TERNSERVE_TESTS_TESTING_TEST_TASK_H_
#define TERNSERVE_TESTS_TESTING_TEST_TASK_H_

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "scheduler/task.h"

namespace ternserve {

// One finished task: its id, the outcome the dispatcher gave it, and the result its processor
// wrote (-1: none).
struct FinishedTask {
  int id = -1;
  TaskOutcome outcome;
  int result = -1;
};

class TaskLog {
 public:
  void Record(FinishedTask finished) {
    absl::MutexLock lock(&mu_);
    done_.push_back(std::move(finished));
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return done_.size();
  }
  std::vector<FinishedTask> Take() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  // Blocks until `n` tasks have finished.
  void WaitFor(size_t n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_.size() >= n; };
    mu_.Await(absl::Condition(&reached));
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<FinishedTask> done_ ABSL_GUARDED_BY(mu_);
};

class TestTask final : public Task {
 public:
  TestTask(int id, absl::Time arrival, absl::Time deadline, TaskLog* log, double min_accuracy = 0)
      : Task(arrival, deadline, min_accuracy), id_(id), log_(log) {}

  int id() const { return id_; }
  void set_result(int result) { result_ = result; }
  // What a front end does when the task's client gives up.
  void Cancel() { cancelled_.store(true, std::memory_order_release); }
  bool Cancelled() const override { return cancelled_.load(std::memory_order_acquire); }
  void Finish(const TaskOutcome& outcome) override {
    if (log_ != nullptr) log_->Record({id_, outcome, result_});
  }

 private:
  const int id_;
  TaskLog* const log_;
  int result_ = -1;
  std::atomic<bool> cancelled_{false};
};

// A task for `log` arriving at `arrival` with deadline arrival + slo, as the dispatcher takes it.
inline std::unique_ptr<Task> MakeTestTask(int id, absl::Time arrival, absl::Duration slo,
                                          TaskLog* log, double min_accuracy = 0) {
  return std::make_unique<TestTask>(id, arrival, arrival + slo, log, min_accuracy);
}

}  // namespace ternserve

#endif  // TERNSERVE_TESTS_TESTING_TEST_TASK_H_
