// Tests for scheduler/dispatcher.cc on a fake clock: EDF batching, hopeless tasks under both
// late modes, a waiting policy woken by the clock, the queue bound, drain, failure propagation,
// policy feedback, exactly-once completion under concurrent enqueue, idle workers that spin, and a
// model swap between batches.
#include "scheduler/dispatcher.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/clipper_policy.h"
#include "scheduler/fixed_policy.h"
#include "scheduler/policy.h"
#include "scheduler/slackfit.h"
#include "tests/scheduler/test_profile.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/hold_gate.h"
#include "tests/testing/test_task.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

DispatcherOptions Options(int workers, int max_batch, int max_queue, int subnet_id) {
  DispatcherOptions options;
  options.workers = workers;
  options.max_batch = max_batch;
  options.max_queue = max_queue;
  options.subnet_id = subnet_id;
  return options;
}

// A BatchProcessor whose calls a test can hold, inspect and fail. It writes each TestTask's id as
// its result, so a test can check each task got its own.
class ScriptedProcessor : public BatchProcessor {
 public:
  explicit ScriptedProcessor(FakeClock* clock) : clock_(clock) {}

  absl::Status ProcessBatch(int /*worker*/, int subnet_id, absl::Span<Task* const> batch) override {
    {
      absl::MutexLock lock(&mu_);
      batch_sizes_.push_back(static_cast<int>(batch.size()));
      subnets_.push_back(subnet_id);
    }
    gate_.Enter();
    if (clock_ != nullptr) clock_->Advance(compute_time_);
    if (!fail_.ok()) return fail_;
    for (Task* task : batch) {
      auto* test_task = static_cast<TestTask*>(task);
      test_task->set_result(result_base_ + test_task->id());
    }
    return absl::OkStatus();
  }

  void Hold() { gate_.Hold(); }
  void Release() { gate_.Release(); }
  void WaitEntered(int n) { gate_.WaitEntered(n); }
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
  int result_base_ = 0;  // each task's result is result_base_ + its id

 private:
  FakeClock* const clock_;
  HoldGate gate_;
  absl::Mutex mu_;
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  std::vector<int> subnets_ ABSL_GUARDED_BY(mu_);
};

TEST(DispatcherTest, BatchesInEdfOrderAndDropsHopelessRequests) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  Dispatcher dispatcher(Options(1, 2, 100, 7), &processor, &clock);
  const absl::Time t0 = clock.Now();

  processor.Hold();
  auto first = MakeTestTask(0, t0, absl::Milliseconds(1), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&first).ok());
  EXPECT_EQ(first, nullptr);  // ownership taken
  processor.WaitEntered(1);   // the worker holds a batch of 1
  // Ids 1..4 arrive in order with SLOs of 4, 3, 2, 1 s: EDF serves them 4, 3, then 2, 1. Ids 5
  // and 6 have 3 ms, which will have passed before a worker is free: hopeless.
  for (int id = 1; id <= 6; ++id) {
    auto r =
        MakeTestTask(id, t0, id <= 4 ? absl::Seconds(5 - id) : absl::Milliseconds(3), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  EXPECT_EQ(dispatcher.queue_depth(), 6);
  clock.Advance(absl::Milliseconds(5));
  processor.Release();
  completions.WaitFor(7);

  EXPECT_THAT(processor.batch_sizes(), ElementsAre(1, 2, 2));
  EXPECT_THAT(processor.subnets(), ElementsAre(7, 7, 7));
  for (const auto& [id, c, result] : completions.Take()) {
    SCOPED_TRACE(id);
    if (id >= 5) {
      // Answered at once, never run: the first free worker found them past their deadline.
      EXPECT_EQ(c.status.code(), absl::StatusCode::kDeadlineExceeded);
      EXPECT_EQ(result, -1);
      EXPECT_EQ(c.subnet_id, -1);
      EXPECT_FALSE(c.deadline_met);
      EXPECT_EQ(c.queue_time, absl::Milliseconds(7));
      continue;
    }
    ASSERT_TRUE(c.status.ok()) << c.status;
    EXPECT_EQ(c.subnet_id, 7);
    EXPECT_EQ(result, id);  // its own result, written by the processor
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
  TaskLog completions;
  DispatcherOptions options = Options(1, 4, 100, 0);
  // Sub-net 3 needs 1 ms even for one request.
  options.policy = std::make_shared<FixedPolicy>(3, 4, absl::ZeroDuration(), absl::Milliseconds(1));
  options.late = LateMode::kServe;
  Dispatcher dispatcher(options, &processor, &clock);
  const absl::Time t0 = clock.Now();
  processor.Hold();
  auto a = MakeTestTask(0, t0, absl::Seconds(1), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&a).ok());
  processor.WaitEntered(1);
  auto hopeless = MakeTestTask(1, t0, absl::Microseconds(500), &completions);
  auto fine = MakeTestTask(2, t0, absl::Seconds(1), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&hopeless).ok());
  ASSERT_TRUE(dispatcher.Enqueue(&fine).ok());
  processor.Release();
  completions.WaitFor(3);
  // The hopeless request runs alone first (EDF head), then the feasible one.
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(1, 1, 1));
  for (const auto& [id, c, result] : completions.Take()) {
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
  TaskLog completions;
  DispatcherOptions options = Options(1, 3, 100, 0);
  options.policy = std::make_shared<FixedPolicy>(5, 3, absl::Milliseconds(10));
  Dispatcher dispatcher(options, &processor, &clock);
  for (int id = 0; id < 2; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Seconds(1), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  // The worker asked the policy, which waits for the batch to fill: it waits on the clock.
  clock.WaitForWaits(1);
  EXPECT_TRUE(processor.batch_sizes().empty());
  clock.Advance(absl::Milliseconds(10));  // the head has now waited max_queue_delay
  completions.WaitFor(2);
  // A full batch runs at once.
  for (int id = 2; id < 5; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Seconds(1), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  completions.WaitFor(5);
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(2, 3));
  EXPECT_THAT(processor.subnets(), ElementsAre(5, 5));
}

TEST(DispatcherTest, DrainFlushesAWaitingPolicy) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  DispatcherOptions options = Options(2, 8, 100, 0);
  options.policy = std::make_shared<FixedPolicy>(1, 8, absl::Hours(1));
  Dispatcher dispatcher(options, &processor, &clock);
  for (int id = 0; id < 3; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Hours(2), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  dispatcher.Drain();
  EXPECT_EQ(completions.size(), 3u);
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(3));
}

TEST(DispatcherTest, SwapModelRunsLaterBatchesOnTheNewPairAndTheRunningOneOnTheOld) {
  FakeClock clock;
  auto old_processor = std::make_shared<ScriptedProcessor>(&clock);
  auto new_processor = std::make_shared<ScriptedProcessor>(&clock);
  new_processor->result_base_ = 1000;
  TaskLog completions;
  Dispatcher dispatcher(Options(1, 1, 100, 7), old_processor, &clock);

  old_processor->Hold();
  auto first = MakeTestTask(0, clock.Now(), absl::Seconds(1), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&first).ok());
  old_processor->WaitEntered(1);  // task 0 runs on the old processor
  for (int id = 1; id <= 2; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Seconds(1), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  ASSERT_TRUE(
      dispatcher.SwapModel(std::make_shared<FixedPolicy>(9, 2, absl::ZeroDuration()), new_processor)
          .ok());
  // Only the running batch holds the old processor now.
  const std::weak_ptr<ScriptedProcessor> old_alive = old_processor;
  ScriptedProcessor* old_raw = old_processor.get();
  old_processor.reset();
  EXPECT_FALSE(old_alive.expired());
  old_raw->Release();
  completions.WaitFor(3);

  std::vector<FinishedTask> done = completions.Take();
  std::sort(done.begin(), done.end(),
            [](const FinishedTask& a, const FinishedTask& b) { return a.id < b.id; });
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].result, 0);  // the old processor's
  EXPECT_EQ(done[0].outcome.subnet_id, 7);
  for (int id = 1; id <= 2; ++id) {
    EXPECT_TRUE(done[id].outcome.status.ok()) << done[id].outcome.status;
    EXPECT_EQ(done[id].result, 1000 + id);  // the new processor's, in one batch of the new policy
    EXPECT_EQ(done[id].outcome.subnet_id, 9);
    EXPECT_EQ(done[id].outcome.batch_size, 2);
  }
  EXPECT_THAT(new_processor->subnets(), ElementsAre(9));
  // The worker let go of the old processor after its batch, before it took the next.
  EXPECT_TRUE(old_alive.expired());
}

// Accuracy floors. ThreeSubnetProfile: sub-nets 0, 1, 2 of accuracy 0.80, 0.85, 0.90 take 1, 2
// and 4 ms at batch 1.
DispatcherOptions SlackFitOptions() {
  DispatcherOptions options = Options(1, 8, 100, 0);
  options.policy = std::make_shared<SlackFitPolicy>(ThreeSubnetProfile(), 4, 0);
  return options;
}

double AccuracyOf(int subnet_id) {
  for (const SubnetLatency& s : ThreeSubnetProfile().subnets) {
    if (s.id == subnet_id) return s.accuracy;
  }
  return -1;
}

TEST(DispatcherTest, EnqueueRefusesAFloorNoSubnetMeetsOrMeetsInTime) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  Dispatcher dispatcher(SlackFitOptions(), &processor, &clock);
  const absl::Time t0 = clock.Now();

  auto above = MakeTestTask(0, t0, absl::Seconds(1), &completions, 0.95);
  const absl::Status refused = dispatcher.Enqueue(&above);
  EXPECT_EQ(refused.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(refused.message(), HasSubstr("0.95"));
  EXPECT_THAT(refused.message(), HasSubstr("sub-net 2"));
  EXPECT_NE(above, nullptr);  // left with the caller
  // Sub-net 2 meets 0.9 but needs 4 ms; 3 ms are left.
  auto too_soon = MakeTestTask(1, t0, absl::Milliseconds(3), &completions, 0.9);
  EXPECT_EQ(dispatcher.Enqueue(&too_soon).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(too_soon, nullptr);

  auto fine = MakeTestTask(2, t0, absl::Seconds(1), &completions, 0.9);
  ASSERT_TRUE(dispatcher.Enqueue(&fine).ok());
  completions.WaitFor(1);
  dispatcher.Drain();
  const std::vector<FinishedTask> done = completions.Take();
  ASSERT_EQ(done.size(), 1u);  // the refused two are never finished by the dispatcher
  EXPECT_EQ(done[0].id, 2);
  EXPECT_TRUE(done[0].outcome.status.ok());
  EXPECT_EQ(done[0].outcome.subnet_id, 2);
}

// A SlackFit dispatcher on ThreeSubnetProfile whose one worker is held in a first batch (task 0,
// due in 1 s), so that what a test enqueues next waits in the queue until it calls Release.
class HeldFloorDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    processor_.Hold();
    auto first = MakeTestTask(0, t0_, absl::Seconds(1), &completions_);
    ASSERT_TRUE(dispatcher_.Enqueue(&first).ok());
    processor_.WaitEntered(1);
  }

  FakeClock clock_;
  ScriptedProcessor processor_{&clock_};
  TaskLog completions_;
  Dispatcher dispatcher_{SlackFitOptions(), &processor_, &clock_};
  const absl::Time t0_ = clock_.Now();
};

TEST_F(HeldFloorDispatcherTest, EveryBatchMeetsTheFloorsOfTheRequestsInIt) {
  // 24 requests with 14 ms: the queue is long and the slack short, so SlackFit serves those
  // without a floor on fast sub-nets; a third need 0.85 and a third 0.90.
  const double floors[] = {0, 0.85, 0.9};
  for (int id = 1; id <= 24; ++id) {
    auto r = MakeTestTask(id, t0_, absl::Milliseconds(14), &completions_, floors[id % 3]);
    ASSERT_TRUE(dispatcher_.Enqueue(&r).ok()) << id;
  }
  processor_.Release();
  completions_.WaitFor(25);
  int served = 0;
  for (const auto& [id, c, result] : completions_.Take()) {
    SCOPED_TRACE(id);
    if (!c.status.ok()) {
      EXPECT_EQ(c.status.code(), absl::StatusCode::kDeadlineExceeded) << c.status;
      continue;
    }
    ++served;
    EXPECT_GE(AccuracyOf(c.subnet_id), floors[id % 3]) << "sub-net " << c.subnet_id;
    EXPECT_EQ(result, id);
  }
  EXPECT_GT(served, 12);
  // Floors mattered: some batch ran on a sub-net below 0.90.
  const std::vector<int> subnets = processor_.subnets();
  EXPECT_TRUE(std::any_of(subnets.begin(), subnets.end(), [](int s) { return s != 2; }));
}

TEST_F(HeldFloorDispatcherTest, AQueuedRequestHopelessForItsFloorAloneIsAnsweredForItsFloor) {
  // Both need 0.90 (4 ms) and are admitted. When the worker is free, 5 ms later (3 ms waited,
  // then the 2 ms batch), id 1 has 1.5 ms left: enough for sub-net 0, not for its floor. Id 2 has
  // 0.5 ms: hopeless for every sub-net, an ordinary drop.
  auto for_floor = MakeTestTask(1, t0_, absl::Microseconds(6500), &completions_, 0.9);
  auto for_all = MakeTestTask(2, t0_, absl::Microseconds(5500), &completions_, 0.9);
  ASSERT_TRUE(dispatcher_.Enqueue(&for_floor).ok());
  ASSERT_TRUE(dispatcher_.Enqueue(&for_all).ok());
  clock_.Advance(absl::Milliseconds(3));
  processor_.Release();
  completions_.WaitFor(3);
  for (const auto& [id, c, result] : completions_.Take()) {
    SCOPED_TRACE(id);
    if (id == 0) continue;
    EXPECT_EQ(c.status.code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(c.subnet_id, -1);
    EXPECT_EQ(c.refused_for_floor, id == 1);
    if (id == 1) EXPECT_THAT(c.status.message(), HasSubstr("min_accuracy"));
  }
}

TEST(DispatcherTest, SwapModelAnswersQueuedFloorsTheNewModelCannotMeet) {
  FakeClock clock;
  auto old_processor = std::make_shared<ScriptedProcessor>(&clock);
  auto new_processor = std::make_shared<ScriptedProcessor>(&clock);
  new_processor->result_base_ = 1000;
  TaskLog completions;
  Dispatcher dispatcher(SlackFitOptions(), old_processor, &clock);
  const absl::Time t0 = clock.Now();
  old_processor->Hold();
  auto first = MakeTestTask(0, t0, absl::Seconds(1), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&first).ok());
  old_processor->WaitEntered(1);
  auto needs_090 = MakeTestTask(1, t0, absl::Seconds(1), &completions, 0.9);
  auto needs_080 = MakeTestTask(2, t0, absl::Seconds(1), &completions, 0.8);
  ASSERT_TRUE(dispatcher.Enqueue(&needs_090).ok());
  ASSERT_TRUE(dispatcher.Enqueue(&needs_080).ok());
  // The new model's best sub-net is 0.85 accurate.
  const LatencyProfile smaller =
      MakeProfile({{0, 0.80, {1000, 1200, 1600, 2400}}, {1, 0.85, {2000, 2400, 3200, 4800}}});
  ASSERT_TRUE(
      dispatcher.SwapModel(std::make_shared<SlackFitPolicy>(smaller, 4, 0), new_processor).ok());
  completions.WaitFor(1);  // answered by SwapModel itself, before any batch
  {
    const std::vector<FinishedTask> done = completions.Take();
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].id, 1);
    EXPECT_EQ(done[0].outcome.status.code(), absl::StatusCode::kOutOfRange);
    EXPECT_TRUE(done[0].outcome.refused_for_floor);
  }
  old_processor->Release();
  completions.WaitFor(3);
  for (const auto& [id, c, result] : completions.Take()) {
    if (id != 2) continue;
    EXPECT_TRUE(c.status.ok()) << c.status;
    EXPECT_EQ(result, 1002);  // run by the new processor
    EXPECT_THAT(new_processor->subnets(), ::testing::Contains(c.subnet_id));
    EXPECT_TRUE(c.subnet_id == 0 || c.subnet_id == 1) << c.subnet_id;  // the new model's, >= 0.80
  }
}

TEST(DispatcherTest, SwapModelWakesAWorkerWaitingOnTheOldPolicy) {
  FakeClock clock;
  auto old_processor = std::make_shared<ScriptedProcessor>(&clock);
  auto new_processor = std::make_shared<ScriptedProcessor>(&clock);
  TaskLog completions;
  DispatcherOptions options = Options(1, 4, 100, 0);
  // The old policy waits an hour for a batch of 4; the new one runs what is there.
  options.policy = std::make_shared<FixedPolicy>(3, 4, absl::Hours(1));
  Dispatcher dispatcher(options, old_processor, &clock);
  auto r = MakeTestTask(0, clock.Now(), absl::Hours(2), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  clock.WaitForWaits(1);  // the worker waits on the old policy's retry time
  ASSERT_TRUE(
      dispatcher.SwapModel(std::make_shared<FixedPolicy>(5, 4, absl::ZeroDuration()), new_processor)
          .ok());
  completions.WaitFor(1);  // without the clock moving
  EXPECT_TRUE(old_processor->batch_sizes().empty());
  EXPECT_THAT(new_processor->subnets(), ElementsAre(5));
  EXPECT_EQ(completions.Take().front().outcome.queue_time, absl::ZeroDuration());
}

TEST(DispatcherTest, SwapModelRefusesNullsAndADrainingDispatcher) {
  FakeClock clock;
  auto processor = std::make_shared<ScriptedProcessor>(&clock);
  Dispatcher dispatcher(Options(1, 1, 10, 0), processor, &clock);
  auto policy = std::make_shared<FixedPolicy>(0, 1, absl::ZeroDuration());
  EXPECT_EQ(dispatcher.SwapModel(nullptr, processor).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dispatcher.SwapModel(policy, nullptr).code(), absl::StatusCode::kInvalidArgument);
  dispatcher.Drain();
  const absl::Status draining = dispatcher.SwapModel(policy, processor);
  EXPECT_EQ(draining.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(draining.message(), HasSubstr("draining"));
}

TEST(DispatcherTest, CancelledTasksLeaveTheQueueUnrunAndTakeNoPlaceInABatch) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  processor.compute_time_ = absl::ZeroDuration();
  TaskLog completions;
  DispatcherOptions options = Options(1, 4, 100, 0);
  // Waits (on the clock, which the test does not move) until 4 tasks are queued.
  options.policy = std::make_shared<FixedPolicy>(2, 4, absl::Hours(1));
  Dispatcher dispatcher(options, &processor, &clock);
  std::vector<TestTask*> tasks;
  auto enqueue = [&](int id) {
    auto task =
        std::make_unique<TestTask>(id, clock.Now(), clock.Now() + absl::Hours(2), &completions);
    tasks.push_back(task.get());
    std::unique_ptr<Task> queued = std::move(task);
    ASSERT_TRUE(dispatcher.Enqueue(&queued).ok());
  };
  for (int id = 0; id < 3; ++id) enqueue(id);
  ASSERT_EQ(dispatcher.queue_depth(), 3);
  tasks[1]->Cancel();
  dispatcher.RemoveCancelled();
  // Answered at once, on this thread, without running.
  std::vector<FinishedTask> done = completions.Take();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, 1);
  EXPECT_EQ(done[0].outcome.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(done[0].outcome.batch_size, 0);
  EXPECT_EQ(done[0].result, -1);
  EXPECT_EQ(dispatcher.queue_depth(), 2);
  dispatcher.RemoveCancelled();  // nothing more to remove
  EXPECT_EQ(completions.size(), 1u);

  // A task cancelled before it is queued is refused, and the caller keeps it.
  auto gone = std::make_unique<TestTask>(9, clock.Now(), clock.Now() + absl::Hours(2), nullptr);
  gone->Cancel();
  std::unique_ptr<Task> refused = std::move(gone);
  EXPECT_EQ(dispatcher.Enqueue(&refused).code(), absl::StatusCode::kCancelled);
  EXPECT_NE(refused, nullptr);

  // The cancelled task takes no place in the batch: two more fill it to 4 live tasks.
  enqueue(3);
  enqueue(4);
  completions.WaitFor(5);
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(4));
  std::set<int> ran;
  for (const FinishedTask& task : completions.Take()) {
    if (task.id == 1) continue;
    EXPECT_TRUE(task.outcome.status.ok()) << task.id << ": " << task.outcome.status;
    EXPECT_EQ(task.result, task.id);
    ran.insert(task.id);
  }
  EXPECT_THAT(ran, ElementsAre(0, 2, 3, 4));
}

TEST(DispatcherTest, ACancelledTaskPastItsDeadlineIsAMissNotACancellation) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  DispatcherOptions options = Options(1, 8, 100, 0);
  options.policy = std::make_shared<FixedPolicy>(1, 8, absl::Hours(1));  // holds the queue
  Dispatcher dispatcher(options, &processor, &clock);
  auto expiring = std::make_unique<TestTask>(0, clock.Now(), clock.Now() + absl::Milliseconds(10),
                                             &completions);
  auto cancelled =
      std::make_unique<TestTask>(1, clock.Now(), clock.Now() + absl::Hours(1), &completions);
  TestTask* expiring_task = expiring.get();
  TestTask* cancelled_task = cancelled.get();
  std::unique_ptr<Task> queued = std::move(expiring);
  ASSERT_TRUE(dispatcher.Enqueue(&queued).ok());
  queued = std::move(cancelled);
  ASSERT_TRUE(dispatcher.Enqueue(&queued).ok());
  clock.WaitForWaits(1);                  // the worker waits for the hour's queue delay
  clock.Advance(absl::Milliseconds(20));  // past the first task's deadline (as gRPC cancels it)
  expiring_task->Cancel();
  cancelled_task->Cancel();
  dispatcher.RemoveCancelled();
  std::vector<FinishedTask> done = completions.Take();
  ASSERT_EQ(done.size(), 2u);
  std::sort(done.begin(), done.end(),
            [](const FinishedTask& a, const FinishedTask& b) { return a.id < b.id; });
  EXPECT_EQ(done[0].outcome.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(done[1].outcome.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(done[0].outcome.batch_size, 0);
  EXPECT_EQ(done[0].outcome.queue_time, absl::Milliseconds(20));
  EXPECT_TRUE(processor.batch_sizes().empty());
}

TEST(DispatcherTest, DrainPastItsDeadlineAnswersWhatIsStillQueuedUnavailable) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  DispatcherOptions options = Options(1, 2, 100, 0);
  // The worker waits for a full batch of 2, so it cannot start on the first task alone.
  options.policy = std::make_shared<FixedPolicy>(1, 2, absl::Hours(1));
  Dispatcher dispatcher(options, &processor, &clock);
  processor.Hold();
  for (int id = 0; id < 5; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Hours(2), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  processor.WaitEntered(1);  // the first batch (2 tasks) runs, held; 3 wait in the queue
  const int worker_waits = clock.waits_started();  // the worker may have waited for the second
  absl::Notification drained;
  std::thread drainer([&] {
    dispatcher.Drain(clock.Now() + absl::Seconds(1));
    drained.Notify();
  });
  clock.WaitForWaits(worker_waits + 1);  // Drain waits on the clock for the queue to empty
  EXPECT_EQ(completions.size(), 0u);
  clock.Advance(absl::Seconds(1));
  completions.WaitFor(3);  // the queued three, abandoned at the deadline
  for (const FinishedTask& task : completions.Take()) {
    EXPECT_EQ(task.outcome.status.code(), absl::StatusCode::kUnavailable) << task.id;
    EXPECT_EQ(task.outcome.batch_size, 0);
  }
  // The running batch still completes before Drain returns.
  EXPECT_FALSE(drained.HasBeenNotified());
  processor.Release();
  drainer.join();
  std::vector<FinishedTask> done = completions.Take();
  ASSERT_EQ(done.size(), 5u);
  int ok = 0;
  for (const FinishedTask& task : done) ok += task.outcome.status.ok() ? 1 : 0;
  EXPECT_EQ(ok, 2);
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(2));
}

TEST(DispatcherTest, DrainWithAPastDeadlineRunsNothingMore) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  DispatcherOptions options = Options(1, 8, 100, 0);
  options.policy = std::make_shared<FixedPolicy>(1, 8, absl::Hours(1));  // holds the queue
  Dispatcher dispatcher(options, &processor, &clock);
  for (int id = 0; id < 3; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Hours(2), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  dispatcher.Drain(clock.Now());  // a zero drain timeout
  std::vector<FinishedTask> done = completions.Take();
  ASSERT_EQ(done.size(), 3u);
  for (const FinishedTask& task : done) {
    EXPECT_EQ(task.outcome.status.code(), absl::StatusCode::kUnavailable) << task.id;
  }
  EXPECT_TRUE(processor.batch_sizes().empty());
}

TEST(DispatcherTest, BatchOutcomesReachTheClipperPolicy) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  auto clipper = std::make_shared<ClipperPolicy>(0, 8, absl::ZeroDuration(), absl::ZeroDuration());
  DispatcherOptions options = Options(1, 8, 100, 0);
  options.policy = clipper;
  Dispatcher dispatcher(options, &processor, &clock);
  for (int id = 0; id < 5; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Seconds(10), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
    completions.WaitFor(static_cast<size_t>(id) + 1);
  }
  dispatcher.Drain();
  EXPECT_EQ(clipper->batch_cap(), 6);  // 1 + one per batch that met its deadlines
}

// Runs every batch in `factor` x the profile's p50 (+ overhead) of its sub-net and batch, on the
// fake clock: an engine that is as fast as profiled (1) or slower.
class SpeedProcessor : public BatchProcessor {
 public:
  SpeedProcessor(FakeClock* clock, LatencyProfile profile)
      : clock_(clock), profile_(std::move(profile)) {}
  absl::Status ProcessBatch(int /*worker*/, int subnet_id, absl::Span<Task* const> batch) override {
    const SubnetLatency* subnet = profile_.Find(subnet_id);
    const double us = (P50Us(*subnet, static_cast<int>(batch.size())) + profile_.overhead_us) *
                      factor_.load(std::memory_order_acquire);
    clock_->Advance(absl::Microseconds(us));
    return absl::OkStatus();
  }
  std::atomic<double> factor_{1};

 private:
  FakeClock* const clock_;
  const LatencyProfile profile_;
};

// Records the latency scale the dispatcher reports after each batch.
class ScaleLog : public DispatcherObserver {
 public:
  void OnQueueDepth(int /*depth*/) override {}
  void OnBatchDone(int /*subnet_id*/, int /*batch_size*/, absl::Duration /*time*/) override {}
  void OnLatencyScale(double scale) override {
    absl::MutexLock lock(&mu_);
    scales_.push_back(scale);
  }
  std::vector<double> scales() {
    absl::MutexLock lock(&mu_);
    return scales_;
  }

 private:
  absl::Mutex mu_;
  std::vector<double> scales_ ABSL_GUARDED_BY(mu_);
};

// With --adapt_latency SlackFit follows the engine: 1.5x slower, it leaves the sub-net that no
// longer fits a 6 ms SLO within 8 batches (the window's median); back to speed, it returns within
// the window's 16. One request at a time, each answered before the next arrives.
TEST(DispatcherTest, TheLatencyModelMovesTheChoiceWhenTheEngineSlowsAndBackWhenItRecovers) {
  FakeClock clock;
  const LatencyProfile profile = ThreeSubnetProfile(/*overhead_us=*/100);
  SpeedProcessor processor(&clock, profile);
  ScaleLog scales;
  TaskLog completions;
  PolicyOptions policy_options;
  policy_options.adapt_latency = true;
  absl::StatusOr<std::unique_ptr<Policy>> policy =
      CreatePolicy("slackfit", profile, policy_options);
  ASSERT_TRUE(policy.ok()) << policy.status();
  DispatcherOptions options = Options(1, 8, 100, 0);
  options.policy = *std::move(policy);
  options.observer = &scales;
  Dispatcher dispatcher(options, &processor, &clock);
  int id = 0;
  // Sub-nets of single requests, one per phase of `n` batches at `factor`.
  auto run = [&](int n, double factor) {
    processor.factor_.store(factor, std::memory_order_release);
    std::vector<int> subnets;
    for (int i = 0; i < n; ++i, ++id) {
      auto task = MakeTestTask(id, clock.Now(), absl::Microseconds(6000), &completions);
      EXPECT_TRUE(dispatcher.Enqueue(&task).ok());
      completions.WaitFor(static_cast<size_t>(id) + 1);
      subnets.push_back(completions.Take().back().outcome.subnet_id);
    }
    return subnets;
  };
  // As profiled: sub-net 2 (p99 4000 + 100 µs) fits the 6 ms.
  EXPECT_THAT(run(16, 1.0), ::testing::Each(2));
  // 1.5x: 6150 µs for sub-net 2, a miss. Seven batches in, the tail term has moved (to 1.21)
  // but sub-net 2 still fits what it plans; the eighth slow batch moves the median to 1.5, and
  // from the ninth on sub-net 1 (1.5 x 2100 µs) runs.
  const std::vector<int> slow = run(16, 1.5);
  EXPECT_THAT(std::vector<int>(slow.begin(), slow.begin() + 8), ::testing::Each(2));
  EXPECT_THAT(std::vector<int>(slow.begin() + 8, slow.end()), ::testing::Each(1));
  // Recovered: sub-net 1's batches are now at p50, the window forgets the slow ones, and sub-net
  // 2 comes back within 16 batches.
  const std::vector<int> recovered = run(20, 1.0);
  EXPECT_EQ(recovered.back(), 2);
  const auto back = std::find(recovered.begin(), recovered.end(), 2);
  EXPECT_LE(back - recovered.begin(), 16);
  dispatcher.Drain();
  const std::vector<double> reported = scales.scales();
  ASSERT_EQ(reported.size(), 52u);
  EXPECT_DOUBLE_EQ(reported[15], 1.0);
  EXPECT_DOUBLE_EQ(reported[23], 1.5);
  EXPECT_DOUBLE_EQ(reported.back(), 1.0);
}

TEST(DispatcherTest, DeadlineMetIsInclusive) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  Dispatcher dispatcher(Options(1, 1, 10, 0), &processor, &clock);
  auto r = MakeTestTask(0, clock.Now(), absl::Milliseconds(2),
                        &completions);  // finishes exactly at deadline
  ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  completions.WaitFor(1);
  const auto done = completions.Take();
  EXPECT_TRUE(done[0].outcome.deadline_met);
}

TEST(DispatcherTest, FullQueueIsResourceExhaustedAndCallerKeepsRequest) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  Dispatcher dispatcher(Options(1, 8, 2, 0), &processor, &clock);
  processor.Hold();
  auto a = MakeTestTask(0, clock.Now(), absl::Seconds(1), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&a).ok());
  processor.WaitEntered(1);  // a is running, the queue is empty
  auto b = MakeTestTask(1, clock.Now(), absl::Seconds(1), &completions);
  auto c = MakeTestTask(2, clock.Now(), absl::Seconds(1), &completions);
  auto d = MakeTestTask(3, clock.Now(), absl::Seconds(1), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&b).ok());
  ASSERT_TRUE(dispatcher.Enqueue(&c).ok());
  absl::Status full = dispatcher.Enqueue(&d);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(full.message(), HasSubstr("queue is full"));
  ASSERT_NE(d, nullptr);  // still ours
  EXPECT_EQ(static_cast<TestTask*>(d.get())->id(), 3);
  processor.Release();
  completions.WaitFor(3);
  // Space again: d is accepted now.
  ASSERT_TRUE(dispatcher.Enqueue(&d).ok());
  completions.WaitFor(4);
}

TEST(DispatcherTest, RejectsANullTask) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  Dispatcher dispatcher({}, &processor, &clock);
  std::unique_ptr<Task> null;
  EXPECT_EQ(dispatcher.Enqueue(&null).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(dispatcher.Enqueue(nullptr).code(), absl::StatusCode::kInvalidArgument);
}

TEST(DispatcherTest, DrainAnswersEverythingQueuedThenRefuses) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  TaskLog completions;
  // Room for whatever the loop below enqueues before the drainer thread gets going.
  Dispatcher dispatcher(Options(2, 3, 1 << 22, 0), &processor, &clock);
  processor.Hold();
  for (int id = 0; id < 20; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Hours(1), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  processor.WaitEntered(2);
  absl::Notification drained;
  std::thread drainer([&] {
    dispatcher.Drain();
    drained.Notify();
  });
  // New work is refused once Drain has begun, and the caller keeps it. Until the drainer thread
  // gets there, a task is legitimately accepted (and answered).
  absl::Status refused;
  while (refused.ok()) {
    auto late = MakeTestTask(99, clock.Now(), absl::Hours(1), &completions);
    refused = dispatcher.Enqueue(&late);
    if (!refused.ok()) {
      EXPECT_NE(late, nullptr);
    }
    std::this_thread::yield();
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  // Drain has begun but must wait for the held batches and everything still queued.
  EXPECT_FALSE(drained.HasBeenNotified());
  processor.Release();
  drainer.join();
  EXPECT_TRUE(drained.HasBeenNotified());
  std::set<int> ids;
  for (const auto& [id, c, result] : completions.Take()) {
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
  TaskLog completions;
  Dispatcher dispatcher(Options(1, 8, 100, 0), &processor, &clock);
  processor.Hold();
  for (int id = 0; id < 5; ++id) {
    auto r = MakeTestTask(id, clock.Now(), absl::Seconds(1), &completions);
    ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  }
  processor.Release();
  completions.WaitFor(5);
  for (const auto& [id, c, result] : completions.Take()) {
    EXPECT_EQ(c.status, absl::InternalError("engine exploded")) << id;
    EXPECT_EQ(result, -1);
    EXPECT_FALSE(c.deadline_met);
  }
}

// With `idle_spin`, idle workers poll the queue instead of sleeping at once.
void ExpectEveryAcceptedRequestAnsweredExactlyOnce(absl::Duration idle_spin) {
  ScriptedProcessor processor(nullptr);
  processor.compute_time_ = absl::ZeroDuration();
  TaskLog completions;
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
        auto r =
            MakeTestTask(id, absl::Now(),
                         hopeless(id) ? absl::Microseconds(100) : absl::Seconds(10), &completions);
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
  for (const auto& [id, c, result] : completions.Take()) {
    EXPECT_TRUE(ids.insert(id).second) << "answered twice: " << id;
    if (hopeless(id)) {
      EXPECT_EQ(c.status.code(), absl::StatusCode::kDeadlineExceeded) << id;
      continue;
    }
    ASSERT_TRUE(c.status.ok()) << id << ": " << c.status;
    EXPECT_EQ(result, id);
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

// Waits (without sleeping) until `dispatcher` has `n` workers polling its empty queue.
void WaitForSpinningWorkers(const Dispatcher& dispatcher, int n) {
  while (dispatcher.spinning_workers() != n) std::this_thread::yield();
}

TEST(DispatcherTest, AnIdleWorkerSpinsForIdleSpinOnTheClockThenSleeps) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  processor.compute_time_ = absl::ZeroDuration();
  TaskLog completions;
  DispatcherOptions options = Options(1, 4, 16, 0);
  options.idle_spin = absl::Milliseconds(400);
  Dispatcher dispatcher(options, &processor, &clock);
  // Idle from the start: the worker polls the empty queue until 400 ms pass on the clock.
  WaitForSpinningWorkers(dispatcher, 1);
  auto r = MakeTestTask(1, clock.Now(), absl::Seconds(10), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  completions.WaitFor(1);
  // Idle again: it spins again, however long real time runs, until the clock says otherwise.
  WaitForSpinningWorkers(dispatcher, 1);
  clock.Advance(absl::Milliseconds(399));
  EXPECT_EQ(dispatcher.spinning_workers(), 1);
  clock.Advance(absl::Milliseconds(1));
  WaitForSpinningWorkers(dispatcher, 0);  // it sleeps on the queue now
  // A task wakes it up as usual, and it runs it.
  r = MakeTestTask(2, clock.Now(), absl::Seconds(10), &completions);
  ASSERT_TRUE(dispatcher.Enqueue(&r).ok());
  completions.WaitFor(2);
  EXPECT_THAT(processor.batch_sizes(), ElementsAre(1, 1));
}

TEST(DispatcherTest, DrainStopsASpinningWorker) {
  FakeClock clock;
  ScriptedProcessor processor(&clock);
  DispatcherOptions options = Options(2, 4, 16, 0);
  options.idle_spin = absl::Hours(1);
  Dispatcher dispatcher(options, &processor, &clock);
  WaitForSpinningWorkers(dispatcher, 2);
  // The clock never moves: without the drain check the workers would spin, and Drain wait, for
  // ever (the test's timeout).
  dispatcher.Drain();
  EXPECT_EQ(dispatcher.spinning_workers(), 0);
}

}  // namespace
}  // namespace ternserve
