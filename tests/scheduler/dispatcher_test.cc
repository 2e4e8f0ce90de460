// Tests for scheduler/dispatcher.cc on a fake clock: EDF batching, hopeless requests under both
// late modes, a waiting policy, the queue bound, drain, failure propagation, policy feedback,
// exactly-once completion under concurrent enqueue, and idle workers that spin.
#include "scheduler/dispatcher.h"

#include <time.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/clipper_policy.h"
#include "scheduler/fixed_policy.h"
#include "tests/scheduler/test_profile.h"
#include "tests/testing/fake_clock.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kClasses = 3;

DispatcherOptions Options(int workers, int max_batch, int max_queue, int subnet_id) {
  DispatcherOptions options;
  options.workers = workers;
  options.max_batch = max_batch;
  options.max_queue = max_queue;
  options.subnet_id = subnet_id;
  return options;
}

// A BatchProcessor whose calls a test can hold, inspect and fail. Logits of image i are
// {image[0], image[1], worker}, so a test can check each request got its own row.
class ScriptedProcessor : public BatchProcessor {
 public:
  explicit ScriptedProcessor(FakeClock* clock) : clock_(clock) {}

  absl::StatusOr<std::vector<float>> ProcessBatch(int worker, int subnet_id,
                                                  absl::Span<const float> images,
                                                  int batch) override {
    {
      absl::MutexLock lock(&mu_);
      batch_sizes_.push_back(batch);
      subnets_.push_back(subnet_id);
      ++entered_;
      mu_.Await(absl::Condition(this, &ScriptedProcessor::NotHeld));
    }
    if (clock_ != nullptr) clock_->Advance(compute_time_);
    if (!fail_.ok()) return fail_;
    if (images.size() != static_cast<size_t>(batch) * kRequestImageFloats) {
      return absl::InternalError("bad images size");
    }
    std::vector<float> logits;
    for (int i = 0; i < batch; ++i) {
      logits.push_back(images[static_cast<size_t>(i) * kRequestImageFloats]);
      logits.push_back(images[static_cast<size_t>(i) * kRequestImageFloats + 1]);
      logits.push_back(static_cast<float>(worker));
    }
    if (truncate_logits_) logits.pop_back();
    return logits;
  }

  void Hold() {
    absl::MutexLock lock(&mu_);
    held_ = true;
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    held_ = false;
  }
  void WaitEntered(int n) {
    absl::MutexLock lock(&mu_);
    wait_entered_ = n;
    mu_.Await(absl::Condition(this, &ScriptedProcessor::EnteredEnough));
  }
  std::vector<int> batch_sizes() {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  std::vector<int> subnets() {
    absl::MutexLock lock(&mu_);
    return subnets_;
  }

  absl::Duration compute_time_ = absl::Milliseconds(2);
  absl::Status fail_;
  bool truncate_logits_ = false;

 private:
  bool NotHeld() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_; }
  bool EnteredEnough() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entered_ >= wait_entered_;
  }

  FakeClock* const clock_;
  absl::Mutex mu_;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
  int wait_entered_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  std::vector<int> subnets_ ABSL_GUARDED_BY(mu_);
};

// Collects completions by request id. Thread-safe.
class Completions {
 public:
  std::unique_ptr<Request> Make(int id, absl::Time arrival, absl::Duration slo) {
    auto request = std::make_unique<Request>();
    request->arrival = arrival;
    request->deadline = arrival + slo;
    request->image.assign(kRequestImageFloats, 0.0f);
    request->image[0] = static_cast<float>(id);
    request->image[1] = static_cast<float>(id) + 0.5f;
    request->on_done = [this, id](Completion c) {
      absl::MutexLock lock(&mu_);
      done_.emplace_back(id, std::move(c));
    };
    return request;
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return done_.size();
  }
  std::vector<std::pair<int, Completion>> Take() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  void WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    n_ = n;
    mu_.Await(absl::Condition(this, &Completions::Reached));
  }

 private:
  bool Reached() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_.size() >= n_; }
  absl::Mutex mu_;
  size_t n_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::pair<int, Completion>> done_ ABSL_GUARDED_BY(mu_);
};

TEST(DispatcherTest, BatchesInEdfOrderAndDropsHopelessRequests) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Completions completions;
  Dispatcher dispatcher(Options(1, 2, 100, 7), &processor, &clock);
  const absl::Time t0 = clock.Now();

  processor.Hold();
  auto first = completions.Make(0, t0, absl::Milliseconds(1));
  ASSERT_TRUE(dispatcher.Enqueue(&first).ok());
  EXPECT_EQ(first, nullptr);  // ownership taken
  processor.WaitEntered(1);   // the worker holds a batch of 1
  // Ids 1..4 arrive in order with SLOs of 4, 3, 2, 1 s: EDF serves them 4, 3, then 2, 1. Ids 5
  // and 6 have 3 ms, which will have passed before a worker is free: hopeless.
  for (int id = 1; id <= 6; ++id) {
    auto r = completions.Make(id, t0, id <= 4 ? absl::Seconds(5 - id) : absl::Milliseconds(3));
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  EXPECT_EQ(dispatcher.queue_depth(), 6);
  clock.Advance(absl::Milliseconds(5));
  processor.Release();
  completions.WaitFor(7);

  EXPECT_THAT(processor.batch_sizes(), ElementsAre(1, 2, 2));
  EXPECT_THAT(processor.subnets(), ElementsAre(7, 7, 7));
  for (const auto& [id, c] : completions.Take()) {
    SCOPED_TRACE(id);
    if (id >= 5) {
      // Answered at once, never run: the first free worker found them past their deadline.
      EXPECT_EQ(c.status.code(), absl::StatusCode::kDeadlineExceeded);
      EXPECT_TRUE(c.logits.empty());
      EXPECT_EQ(c.subnet_id, -1);
      EXPECT_FALSE(c.deadline_met);
      EXPECT_EQ(c.queue_time, absl::Milliseconds(7));
      continue;
    }
    ASSERT_TRUE(c.status.ok()) << c.status;
    EXPECT_EQ(c.subnet_id, 7);
    ASSERT_EQ(c.logits.size(), static_cast<size_t>(kClasses));
    EXPECT_EQ(c.logits[0], static_cast<float>(id));  // its own row of the batch
    EXPECT_EQ(c.logits[1], static_cast<float>(id) + 0.5f);
    if (id == 0) {
      EXPECT_EQ(c.batch_size, 1);
      EXPECT_EQ(c.compute_time, absl::Milliseconds(7));  // 5 ms held + 2 ms compute
      EXPECT_EQ(c.queue_time, absl::ZeroDuration());
      EXPECT_FALSE(c.deadline_met);  // 7 ms > 1 ms SLO
    } else {
      EXPECT_EQ(c.batch_size, 2);
      // EDF: 4 and 3 start after 5 ms (hold) + 2 ms (first batch); 2 and 1 two ms later.
      EXPECT_EQ(c.queue_time, id >= 3 ? absl::Milliseconds(7) : absl::Milliseconds(9));
      EXPECT_EQ(c.compute_time, absl::Milliseconds(2));
      EXPECT_TRUE(c.deadline_met);
    }
  }
}

TEST(DispatcherTest, LateServeRunsHopelessRequestsOnTheLateSubnetAsMisses) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Completions completions;
  DispatcherOptions options = Options(1, 4, 100, 0);
  // Sub-net 3 needs 1 ms even for one request.
  options.policy = std::make_shared<FixedPolicy>(3, 4, absl::ZeroDuration(), absl::Milliseconds(1));
  options.late = LateMode::kServe;
  Dispatcher dispatcher(options, &processor, &clock);
  const absl::Time t0 = clock.Now();
  processor.Hold();
  auto a = completions.Make(0, t0, absl::Seconds(1));
  ASSERT_TRUE(dispatcher.Enqueue(&a).ok());
  processor.WaitEntered(1);
  auto hopeless = completions.Make(1, t0, absl::Microseconds(500));
  auto fine = completions.Make(2, t0, absl::Seconds(1));
  ASSERT_TRUE(dispatcher.Enqueue(&hopeless).ok());
  ASSERT_TRUE(dispatcher.Enqueue(&fine).ok());
  processor.Release();
  completions.WaitFor(3);
  // The hopeless request runs alone first (EDF head), then the feasible one.
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(1, 1, 1));
  for (const auto& [id, c] : completions.Take()) {
    SCOPED_TRACE(id);
    ASSERT_TRUE(c.status.ok()) << c.status;
    EXPECT_EQ(c.subnet_id, 3);
    EXPECT_EQ(c.deadline_met, id != 1);
    if (id == 1) {
      EXPECT_EQ(c.queue_time, absl::Milliseconds(2));
    }
  }
}

TEST(DispatcherTest, FixedPolicyWaitsForTheBatchToFillOrItsQueueDelay) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  processor.compute_time_ = absl::ZeroDuration();
  Completions completions;
  DispatcherOptions options = Options(1, 3, 100, 0);
  options.policy = std::make_shared<FixedPolicy>(5, 3, absl::Milliseconds(10));
  Dispatcher dispatcher(options, &processor, &clock);
  for (int id = 0; id < 2; ++id) {
    auto r = completions.Make(id, clock.Now(), absl::Seconds(1));
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  absl::SleepFor(absl::Milliseconds(30));  // real time passes, the fake clock does not
  EXPECT_TRUE(processor.batch_sizes().empty());
  clock.Advance(absl::Milliseconds(10));  // the head has now waited max_queue_delay
  completions.WaitFor(2);
  // A full batch runs at once.
  for (int id = 2; id < 5; ++id) {
    auto r = completions.Make(id, clock.Now(), absl::Seconds(1));
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  completions.WaitFor(5);
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(2, 3));
  EXPECT_THAT(processor.subnets(), ElementsAre(5, 5));
}

TEST(DispatcherTest, DrainFlushesAWaitingPolicy) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Completions completions;
  DispatcherOptions options = Options(2, 8, 100, 0);
  options.policy = std::make_shared<FixedPolicy>(1, 8, absl::Hours(1));
  Dispatcher dispatcher(options, &processor, &clock);
  for (int id = 0; id < 3; ++id) {
    auto r = completions.Make(id, clock.Now(), absl::Hours(2));
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  dispatcher.Drain();
  EXPECT_EQ(completions.size(), 3u);
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(3));
}

TEST(DispatcherTest, BatchOutcomesReachTheClipperPolicy) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Completions completions;
  auto clipper = std::make_shared<ClipperPolicy>(0, 8, absl::ZeroDuration(), absl::ZeroDuration());
  DispatcherOptions options = Options(1, 8, 100, 0);
  options.policy = clipper;
  Dispatcher dispatcher(options, &processor, &clock);
  for (int id = 0; id < 5; ++id) {
    auto r = completions.Make(id, clock.Now(), absl::Seconds(10));
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
    completions.WaitFor(static_cast<size_t>(id) + 1);
  }
  dispatcher.Drain();
  EXPECT_EQ(clipper->batch_cap(), 6);  // 1 + one per batch that met its deadlines
}

TEST(DispatcherTest, DeadlineMetIsInclusive) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Completions completions;
  Dispatcher dispatcher(Options(1, 1, 10, 0), &processor, &clock);
  auto r = completions.Make(0, clock.Now(), absl::Milliseconds(2));  // finishes exactly at deadline
  ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  completions.WaitFor(1);
  const auto done = completions.Take();
  EXPECT_TRUE(done[0].second.deadline_met);
}

TEST(DispatcherTest, FullQueueIsResourceExhaustedAndCallerKeepsRequest) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Completions completions;
  Dispatcher dispatcher(Options(1, 8, 2, 0), &processor, &clock);
  processor.Hold();
  auto a = completions.Make(0, clock.Now(), absl::Seconds(1));
  ASSERT_TRUE(dispatcher.Enqueue(&a).ok());
  processor.WaitEntered(1);  // a is running, the queue is empty
  auto b = completions.Make(1, clock.Now(), absl::Seconds(1));
  auto c = completions.Make(2, clock.Now(), absl::Seconds(1));
  auto d = completions.Make(3, clock.Now(), absl::Seconds(1));
  ASSERT_TRUE(dispatcher.Enqueue(&b).ok());
  ASSERT_TRUE(dispatcher.Enqueue(&c).ok());
  absl::Status full = dispatcher.Enqueue(&d);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("queue is full"));
  ASSERT_NE(d, nullptr);  // still ours
  EXPECT_EQ(d->image[0], 3.0f);
  processor.Release();
  completions.WaitFor(3);
  // Space again: d is accepted now.
  ASSERT_TRUE(dispatcher.Enqueue(&d).ok());
  completions.WaitFor(4);
}

TEST(DispatcherTest, RejectsMalformedRequests) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Completions completions;
  Dispatcher dispatcher({}, &processor, &clock);
  auto r = completions.Make(0, clock.Now(), absl::Seconds(1));
  r->image.resize(783);
  EXPECT_EQ(dispatcher.Enqueue(&r).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_NE(r, nullptr);
  r->image.resize(kRequestImageFloats);
  r->on_done = nullptr;
  EXPECT_EQ(dispatcher.Enqueue(&r).code(), absl::StatusCode::kInvalidArgument);
  std::unique_ptr<Request> null;
  EXPECT_EQ(dispatcher.Enqueue(&null).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DispatcherTest, DrainAnswersEverythingQueuedThenRefuses) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Completions completions;
  Dispatcher dispatcher(Options(2, 3, 100, 0), &processor, &clock);
  processor.Hold();
  for (int id = 0; id < 20; ++id) {
    auto r = completions.Make(id, clock.Now(), absl::Seconds(1));
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  processor.WaitEntered(2);
  absl::Notification drained;
  std::thread drainer([&] {
    dispatcher.Drain();
    drained.Notify();
  });
  // Drain must wait for the held batches and everything still queued.
  EXPECT_FALSE(drained.WaitForNotificationWithTimeout(absl::Milliseconds(50)));
  // New work is refused while draining, and the caller keeps it.
  absl::Status refused;
  for (int i = 0; i < 1000 && refused.ok(); ++i) {
    auto late = completions.Make(99, clock.Now(), absl::Seconds(1));
    refused = dispatcher.Enqueue(&late);
    if (refused.ok()) {
      // Drain had not set the flag yet; that request is legitimately accepted.
      absl::SleepFor(absl::Milliseconds(1));
    } else {
      EXPECT_NE(late, nullptr);
    }
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  processor.Release();
  drainer.join();
  EXPECT_TRUE(drained.HasBeenNotified());
  std::set<int> ids;
  for (const auto& [id, c] : completions.Take()) {
    EXPECT_TRUE(c.status.ok()) << c.status;
    if (id != 99) {
      EXPECT_TRUE(ids.insert(id).second) << "answered twice: " << id;
    }
  }
  EXPECT_EQ(ids.size(), 20u);
  EXPECT_EQ(dispatcher.queue_depth(), 0);
  dispatcher.Drain();  // idempotent
}

TEST(DispatcherTest, FailedBatchGivesEveryRequestItsStatus) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  processor.fail_ = absl::InternalError("engine exploded");
  Completions completions;
  Dispatcher dispatcher(Options(1, 8, 100, 0), &processor, &clock);
  processor.Hold();
  for (int id = 0; id < 5; ++id) {
    auto r = completions.Make(id, clock.Now(), absl::Seconds(1));
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  processor.Release();
  completions.WaitFor(5);
  for (const auto& [id, c] : completions.Take()) {
    EXPECT_EQ(c.status, absl::InternalError("engine exploded")) << id;
    EXPECT_TRUE(c.logits.empty());
    EXPECT_FALSE(c.deadline_met);
  }
}

TEST(DispatcherTest, WrongLogitCountIsInternal) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  processor.truncate_logits_ = true;  // one logit short: 5 for a batch of 2
  Completions completions;
  Dispatcher dispatcher(Options(1, 2, 10, 0), &processor, &clock);
  processor.Hold();
  auto r0 = completions.Make(0, clock.Now(), absl::Seconds(1));
  ASSERT_TRUE(dispatcher.Enqueue(&r0).ok());
  processor.WaitEntered(1);
  auto r1 = completions.Make(1, clock.Now(), absl::Seconds(1));
  auto r2 = completions.Make(2, clock.Now(), absl::Seconds(1));
  ASSERT_TRUE(dispatcher.Enqueue(&r1).ok());
  ASSERT_TRUE(dispatcher.Enqueue(&r2).ok());
  processor.Release();
  completions.WaitFor(3);
  for (const auto& [id, c] : completions.Take()) {
    if (id == 0) continue;  // batch of 1: 2 logits divide evenly
    EXPECT_EQ(c.status.code(), absl::StatusCode::kInternal) << id;
    EXPECT_THAT(c.status.message(), HasSubstr("returned 5 logits for a batch of 2"));
  }
}

// With `idle_spin`, idle workers poll the queue instead of sleeping at once.
void ExpectEveryAcceptedRequestAnsweredExactlyOnce(absl::Duration idle_spin) {
  ScriptedProcessor processor(nullptr);
  processor.compute_time_ = absl::ZeroDuration();
  Completions completions;
  DispatcherOptions options = Options(3, 16, 64, 0);
  options.idle_spin = idle_spin;
  absl::StatusOr<std::unique_ptr<Policy>> slackfit = CreatePolicy("slackfit", ThreeSubnetProfile());
  ASSERT_TRUE(slackfit.ok());
  options.policy = std::shared_ptr<Policy>(std::move(*slackfit));
  Dispatcher dispatcher(options, &processor, RealClock::Get());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  // Every 5th request is hopeless (SLO below the fastest sub-net's 1 ms) and must be answered
  // DEADLINE_EXCEEDED; the rest must be served.
  auto hopeless = [](int id) { return id % 5 == 0; };
  std::atomic<int> accepted{0};
  std::atomic<int> rejected{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        auto r = completions.Make(id, absl::Now(),
                                  hopeless(id) ? absl::Microseconds(100) : absl::Seconds(10));
        absl::Status s = dispatcher.Enqueue(&r);
        if (s.ok()) {
          ++accepted;
        } else {
          ASSERT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
          ASSERT_NE(r, nullptr);
          ++rejected;
        }
      }
    });
  }
  for (auto& p : producers) p.join();
  dispatcher.Drain();
  EXPECT_EQ(accepted + rejected, kThreads * kPerThread);
  EXPECT_GT(accepted.load(), 0);
  std::set<int> ids;
  int served = 0;
  for (const auto& [id, c] : completions.Take()) {
    EXPECT_TRUE(ids.insert(id).second) << "answered twice: " << id;
    if (hopeless(id)) {
      EXPECT_EQ(c.status.code(), absl::StatusCode::kDeadlineExceeded) << id;
      continue;
    }
    ASSERT_TRUE(c.status.ok()) << id << ": " << c.status;
    EXPECT_EQ(c.logits[0], static_cast<float>(id));
    ++served;
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(accepted.load()));
  int total_batched = 0;
  for (int b : processor.batch_sizes()) {
    EXPECT_GE(b, 1);
    EXPECT_LE(b, 8);  // the profile's largest batch
    total_batched += b;
  }
  EXPECT_EQ(total_batched, served);
}

TEST(DispatcherTest, EveryAcceptedRequestIsAnsweredExactlyOnceUnderConcurrentEnqueue) {
  ExpectEveryAcceptedRequestAnsweredExactlyOnce(absl::ZeroDuration());
}

TEST(DispatcherTest, SpinningWorkersAnswerEveryAcceptedRequestExactlyOnce) {
  ExpectEveryAcceptedRequestAnsweredExactlyOnce(absl::Milliseconds(2));
}

absl::Duration ProcessCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

TEST(DispatcherTest, AnIdleWorkerSpinsForIdleSpinThenSleeps) {
  ScriptedProcessor processor(nullptr);
  Completions completions;
  DispatcherOptions options = Options(1, 4, 16, 0);
  options.idle_spin = absl::Milliseconds(400);
  Dispatcher dispatcher(options, &processor, RealClock::Get());
  auto r = completions.Make(1, absl::Now(), absl::Seconds(10));
  ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  completions.WaitFor(1);
  // The worker polls the empty queue: this process burns CPU while the test thread sleeps. Even
  // with a busy machine's fair share the spinning thread gets far more than 5 ms of 100.
  absl::Duration before = ProcessCpuTime();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_GT(ProcessCpuTime() - before, absl::Milliseconds(5));
  // Past idle_spin it sleeps: hardly any CPU.
  absl::SleepFor(absl::Milliseconds(500));
  before = ProcessCpuTime();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_LT(ProcessCpuTime() - before, absl::Milliseconds(20));
  // A request wakes it up as usual.
  r = completions.Make(2, absl::Now(), absl::Seconds(10));
  ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  completions.WaitFor(2);
}

TEST(DispatcherTest, DrainStopsASpinningWorker) {
  ScriptedProcessor processor(nullptr);
  DispatcherOptions options = Options(2, 4, 16, 0);
  options.idle_spin = absl::Hours(1);
  Dispatcher dispatcher(options, &processor, RealClock::Get());
  absl::SleepFor(absl::Milliseconds(20));  // both workers are spinning now
  const absl::Time start = absl::Now();
  dispatcher.Drain();
  // Without the drain check the spin would hold Drain for an hour.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace ternserve
