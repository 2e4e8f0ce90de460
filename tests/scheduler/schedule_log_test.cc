// Tests for scheduler/schedule_log.cc and the simulator's replay of it: the text format and its
// errors, the recorder's bound, and scheduling fidelity on the fake clock: a Dispatcher's log,
// replayed, gives the same decisions and the same attainment.
#include "scheduler/schedule_log.h"

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/dispatcher.h"
#include "scheduler/simulator.h"
#include "tests/scheduler/test_profile.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/hold_gate.h"
#include "tests/testing/test_task.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

ScheduleLog SmallLog() {
  ScheduleLog log;
  log.policy = "slackfit";
  log.workers = 2;
  log.late = "serve";
  log.adapt_latency = true;
  log.max_batch = 16;
  log.max_queue = 99;
  log.max_queue_delay_us = 250;
  log.requests = {{0, 0, 5000000}, {5, 10, 6000000}, {20, 20, 900}, {30, 30, 900}, {40, 40, 5}};
  log.batches = {{100, 150, 1150, 1200, 2, 2, 1, false}};
  log.drops = {{2000, 3}};
  log.cancelled = 4;
  return log;
}

TEST(ScheduleLogTest, TextRoundTrips) {
  const ScheduleLog log = SmallLog();
  absl::StatusOr<ScheduleLog> back = ParseScheduleLog(ScheduleLogToText(log), "log");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ScheduleLogToText(*back), ScheduleLogToText(log));
  EXPECT_EQ(back->workers, 2);
  EXPECT_EQ(back->late, "serve");
  EXPECT_TRUE(back->adapt_latency);
  EXPECT_EQ(back->batches[0].free_ns, 1200);
  EXPECT_EQ(back->cancelled, 4);
  EXPECT_DOUBLE_EQ(back->attainment(), 0.2);  // 1 met of 5 requests
}

TEST(ScheduleLogTest, RefusesMalformedLinesNamingThem) {
  const std::string good = ScheduleLogToText(SmallLog());
  const std::pair<std::string, std::string> cases[] = {
      {"", "not a schedule log"},
      {"policy slackfit\n", "not a schedule log"},
      {good + "A 5 6\n", "log:18: expected 'A <arrival_ns> <enqueued_ns> <deadline_ns>'"},
      {good + "A 5 4 9\n", "log:18: expected 'A"},            // enqueued before it arrived
      {good + "B 1 2 3 4 0 2 3 0\n", "log:18: expected 'B"},  // met > size
      {good + "B 5 2 3 4 0 2 1 0\n", "log:18: expected 'B"},  // started before decided
      {good + "D 5 0\n", "log:18: expected 'D"},
      {good + "workers many\n", "log:18: workers 'many' is not a count"},
      // Past an int: it used to wrap to a negative queue bound that the log then refused to
      // re-read.
      {good + "max_queue 3010239036\n", "log:18: max_queue '3010239036' is not a count"},
      {good + "B 1 2 3 4 0 4294967297 0 0\n", "log:18: expected 'B"},
      {good + "B 1 2 3 4 4294967296 1 0 0\n", "log:18: expected 'B"},
      {good + "D 5 4294967297\n", "log:18: expected 'D"},
      {good + "Z 1\n", "log:18: unknown record 'Z'"},
      {good + "D 3000 1\n", "log: its batches and drops take 6 requests, more than the 5"},
  };
  for (const auto& [text, why] : cases) {
    absl::StatusOr<ScheduleLog> parsed = ParseScheduleLog(text, "log");
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(why)) << text;
  }
  EXPECT_EQ(LoadScheduleLog("/nonexistent/schedule.log").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ScheduleRecorderTest, StopsAtItsBoundAndSaysSo) {
  const absl::Time origin = absl::FromUnixSeconds(100);
  ScheduleRecorder recorder(SmallLog(), origin, /*max_requests=*/2);
  EXPECT_TRUE(recorder.Snapshot().requests.empty());  // the settings' vectors are not kept
  for (int i = 0; i < 3; ++i) {
    recorder.OnEnqueued(origin, origin + absl::Microseconds(i), origin + absl::Milliseconds(5));
  }
  EXPECT_EQ(recorder.OnDecided(origin, 0, 1, false), -1);
  const ScheduleLog log = recorder.Snapshot();
  EXPECT_EQ(log.requests.size(), 2u);
  EXPECT_EQ(log.requests[1].enqueued_ns, 1000);
  EXPECT_TRUE(log.truncated);
  EXPECT_EQ(log.policy, "slackfit");
}

// Runs each batch for `factor` x its profiled p50 + overhead on the fake clock; a test may hold
// it at its start, to queue requests while it "computes".
class HoldingProcessor : public BatchProcessor {
 public:
  HoldingProcessor(FakeClock* clock, LatencyProfile profile)
      : clock_(clock), profile_(std::move(profile)) {}
  absl::Status ProcessBatch(int /*worker*/, int subnet_id, absl::Span<Task* const> batch) override {
    gate.Enter();
    const SubnetLatency* subnet = profile_.Find(subnet_id);
    clock_->Advance(absl::Microseconds(
        (P50Us(*subnet, static_cast<int>(batch.size())) + profile_.overhead_us) * factor_));
    return absl::OkStatus();
  }
  HoldGate gate;
  double factor_ = 1;

 private:
  FakeClock* const clock_;
  const LatencyProfile profile_;
};

// Bursts of requests queued while a batch computes, the engine 1.4x slower than profiled from the
// middle on, and deadlines some requests miss: the replay of the log makes every decision the
// dispatcher made and reaches exactly its attainment, with and without the latency model.
TEST(ScheduleReplayTest, TheSimulatorMakesTheDispatchersDecisions) {
  std::vector<std::pair<int, int>> static_decisions;
  for (const bool adapt : {false, true}) {
    SCOPED_TRACE(adapt ? "adapt_latency" : "static");
    FakeClock clock;
    const LatencyProfile profile = ThreeSubnetProfile(/*overhead_us=*/100);
    HoldingProcessor processor(&clock, profile);
    PolicyOptions policy_options;
    policy_options.adapt_latency = adapt;
    absl::StatusOr<std::unique_ptr<Policy>> policy =
        CreatePolicy("slackfit", profile, policy_options);
    ASSERT_TRUE(policy.ok());
    ScheduleLog settings;
    settings.policy = "slackfit";
    settings.adapt_latency = adapt;
    settings.max_queue = 100;
    ScheduleRecorder recorder(settings, clock.Now(), 1000);
    DispatcherOptions options;
    options.max_queue = 100;
    options.policy = *std::move(policy);
    options.recorder = &recorder;
    TaskLog completions;
    int id = 0, entered = 0;
    {
      Dispatcher dispatcher(options, &processor, &clock);
      for (int round = 0; round < 24; ++round) {
        if (round == 12) processor.factor_ = 1.4;
        // One request starts a batch; while it is held, a burst queues behind it.
        processor.gate.Hold();
        auto first = MakeTestTask(id++, clock.Now(), absl::Microseconds(9000), &completions);
        ASSERT_TRUE(dispatcher.Enqueue(&first).ok());
        processor.gate.WaitEntered(++entered);
        // The burst comes after the decision: a moment later on the clock, as on a real one (the
        // dispatcher reads both times under its lock; the replay counts a tie as before).
        clock.Advance(absl::Microseconds(1));
        const int burst = round % 6;
        for (int i = 0; i < burst; ++i) {
          // Read a while before it is queued, as a front end does: its SLO counts from then.
          auto task = MakeTestTask(id++, clock.Now() - absl::Microseconds(100 * i),
                                   absl::Microseconds(4000 + 1500 * i + 300 * round), &completions);
          ASSERT_TRUE(dispatcher.Enqueue(&task).ok());
        }
        processor.gate.Release();
        completions.WaitFor(static_cast<size_t>(id));
        entered = static_cast<int>(recorder.Snapshot().batches.size());
        clock.Advance(absl::Milliseconds(20));  // idle between rounds
      }
      dispatcher.Drain();
    }
    const ScheduleLog log = recorder.Snapshot();
    ASSERT_EQ(log.requests.size(), static_cast<size_t>(id));
    // The log must have something to get right: batches of several sizes and sub-nets, misses.
    std::set<std::pair<int, int>> kinds;
    for (const ScheduleLog::Batch& b : log.batches) kinds.insert({b.subnet_id, b.size});
    EXPECT_GE(kinds.size(), 4u);
    EXPECT_LT(log.attainment(), 1.0);
    EXPECT_GT(log.attainment(), 0.5);

    absl::StatusOr<ScheduleLog> reread = ParseScheduleLog(ScheduleLogToText(log), "log");
    ASSERT_TRUE(reread.ok()) << reread.status();
    absl::StatusOr<ReplayReport> replay = ReplayScheduleLog(profile, *reread);
    ASSERT_TRUE(replay.ok()) << replay.status();
    EXPECT_EQ(replay->live_batches, static_cast<int64_t>(log.batches.size()));
    EXPECT_EQ(replay->result.batches, replay->live_batches);
    EXPECT_EQ(replay->matched, replay->compared);
    EXPECT_EQ(replay->first_mismatch, -1);
    // The latency model was at work: after the slowdown it chose otherwise than the static policy.
    std::vector<std::pair<int, int>> decisions;
    for (const ScheduleLog::Batch& b : log.batches) decisions.push_back({b.subnet_id, b.size});
    if (adapt) {
      EXPECT_NE(decisions, static_decisions);
    } else {
      static_decisions = decisions;
    }
    EXPECT_DOUBLE_EQ(replay->result.slo_attainment, replay->server_attainment);
  }
}

TEST(ScheduleReplayTest, ADifferentPolicyIsCaughtAtItsFirstDifferentDecision) {
  const LatencyProfile profile = ThreeSubnetProfile(100);
  ScheduleLog log;
  log.policy = "fixed:0";
  // Two requests, each run alone on sub-net 2 (what slackfit would pick with 9 ms of slack):
  // fixed:0 runs sub-net 0.
  log.requests = {{0, 0, 9000000}, {20000000, 20000000, 29000000}};
  log.batches = {{0, 0, 3300000, 3300000, 2, 1, 1, false},
                 {20000000, 20000000, 23300000, 23300000, 2, 1, 1, false}};
  absl::StatusOr<ReplayReport> replay = ReplayScheduleLog(profile, log);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_EQ(replay->compared, 2);
  EXPECT_EQ(replay->matched, 0);
  EXPECT_EQ(replay->first_mismatch, 0);
  log.policy = "slackfit";
  replay = ReplayScheduleLog(profile, log);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->matched, 2);
  log.late = "sometimes";
  EXPECT_EQ(ReplayScheduleLog(profile, log).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ternserve
