// Tests of per-request accuracy floors (Task::min_accuracy) in the scheduler: the floor mix and its
// sampler, the EDF queue's floor counts and PopServable, the policies' floor tiers and AdmitFloor,
// SlackFit and INFaaS tables with floors in the queue, and TakeNextBatch passing over, dropping
// and serving late the requests whose floor the chosen sub-net does not meet.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/dispatch_step.h"
#include "scheduler/edf_queue.h"
#include "scheduler/fixed_policy.h"
#include "scheduler/floor_mix.h"
#include "scheduler/infaas_policy.h"
#include "scheduler/slackfit.h"
#include "tests/scheduler/policy_test_util.h"
#include "tests/scheduler/test_profile.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using IntQueue = EdfQueue<int>;

// ---- The floor mix.

TEST(FloorMixTest, ParsesWeightedFloors) {
  absl::StatusOr<std::vector<FloorMixEntry>> mix = ParseFloorMix("0.9149:0.3,0:0.7");
  ASSERT_TRUE(mix.ok()) << mix.status();
  ASSERT_EQ(mix->size(), 2u);
  EXPECT_DOUBLE_EQ((*mix)[0].min_accuracy, 0.9149);
  EXPECT_DOUBLE_EQ((*mix)[0].weight, 0.3);
  EXPECT_DOUBLE_EQ((*mix)[1].min_accuracy, 0);
  EXPECT_DOUBLE_EQ((*mix)[1].weight, 0.7);
  ASSERT_TRUE(ParseFloorMix("1:2").ok());  // a floor of exactly 1 and a weight above 1
}

TEST(FloorMixTest, RejectsBadSpecsNamingTheEntry) {
  struct Case {
    std::string spec;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{{"", "empty"},
                                         {"0.9", "not floor:weight"},
                                         {"0.9:1:2", "not floor:weight"},
                                         {"1.1:1", "bad floor '1.1'"},
                                         {"-0.1:1", "bad floor"},
                                         {"nan:1", "bad floor"},
                                         {"x:1", "bad floor 'x'"},
                                         {"0.9:0", "bad weight '0'"},
                                         {"0.9:-1", "bad weight"},
                                         {"0.9:inf", "bad weight"},
                                         {"0.9:1,0.9:2", "given twice"}}) {
    SCOPED_TRACE(c.spec);
    absl::StatusOr<std::vector<FloorMixEntry>> mix = ParseFloorMix(c.spec);
    ASSERT_FALSE(mix.ok());
    EXPECT_EQ(mix.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(mix.status().message(), HasSubstr(c.says));
    EXPECT_THAT(mix.status().message(), HasSubstr(absl::StrCat("'", c.spec, "'")));
  }
}

TEST(FloorMixTest, SamplerIsDeterministicForASeedAndFollowsTheWeights) {
  const std::vector<FloorMixEntry> mix = {{0.9, 0.3}, {0, 0.7}};
  FloorMixSampler a(mix, 7), b(mix, 7), c(mix, 8);
  int firsts = 0;
  bool differs = false;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    const int x = a.Next();
    ASSERT_EQ(x, b.Next());
    differs = differs || x != c.Next();
    firsts += x == 0 ? 1 : 0;
  }
  EXPECT_TRUE(differs);
  // 30% of 20000 draws: the binomial's standard deviation is 65, so 3% is over 9 of them.
  EXPECT_NEAR(firsts, 0.3 * kDraws, 0.03 * kDraws);
  FloorMixSampler none({}, 7);
  EXPECT_EQ(none.Next(), -1);
}

// ---- The queue.

TEST(EdfQueueFloorTest, CountsFloorsForServableAndFillsFlooredFirst) {
  IntQueue queue(16);
  const double floors[] = {0, 0.9, 0, 0.85, 0.9, 0};
  for (int id = 0; id < 6; ++id) {
    ASSERT_TRUE(queue.Push(TestNow(), TestNow() + absl::Milliseconds(1 + id), int{id}, floors[id]));
  }
  ASSERT_TRUE(queue.has_floors());
  QueueView view = queue.View(TestNow(), false);
  EXPECT_EQ(view.head_floor, 0);
  EXPECT_EQ(view.Servable(0.80), 3);  // ids 0, 2, 5
  EXPECT_EQ(view.Servable(0.85), 4);  // and 3
  EXPECT_EQ(view.Servable(0.90), 6);

  std::vector<IntQueue::Entry> out, dropped;
  const auto never = [](const IntQueue::Entry&) { return false; };
  queue.PopServable(2, 0.85, never, &out, &dropped);
  // The head, then the floored request a 0.85 sub-net may serve (id 3) before id 2, which has no
  // floor; id 1 (0.9) is passed over.
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, 0);
  EXPECT_EQ(out[1].payload, 3);
  EXPECT_TRUE(dropped.empty());
  // What was passed over or set aside keeps its place: EDF order is 1, 2, 4, 5.
  view = queue.View(TestNow(), false);
  EXPECT_DOUBLE_EQ(view.head_floor, 0.9);
  EXPECT_EQ(view.Servable(0.80), 2);
  std::vector<int> order;
  while (!queue.empty()) order.push_back(queue.Pop().payload);
  EXPECT_THAT(order, ElementsAre(1, 2, 4, 5));
  EXPECT_FALSE(queue.has_floors());
}

TEST(EdfQueueFloorTest, FloorFirstThenTheMostUrgentWithoutAFloor) {
  IntQueue queue(256);
  // Ids 0..99 without a floor, then ids 100..103 needing 0.9, all due in that order.
  for (int id = 0; id < 104; ++id) {
    ASSERT_TRUE(queue.Push(TestNow(), TestNow() + absl::Microseconds(10 + id), int{id},
                           id >= 100 ? 0.9 : 0.0));
  }
  std::vector<IntQueue::Entry> out, dropped;
  const auto never = [](const IntQueue::Entry&) { return false; };
  // A batch of 8 on a 0.9 sub-net: the head, the 4 floored ones (100 to 103 entries deep, within
  // 8 x 8 + 64), then the most urgent without a floor.
  queue.PopServable(8, 0.9, never, &out, &dropped);
  std::vector<int> ids;
  for (const IntQueue::Entry& e : out) ids.push_back(e.payload);
  EXPECT_THAT(ids, ElementsAre(0, 100, 101, 102, 103, 1, 2, 3));
  EXPECT_FALSE(queue.has_floors());
  EXPECT_EQ(queue.size(), 96);
  EXPECT_EQ(queue.top().payload, 4);
  // On a sub-net below the floor nothing is searched for: plain EDF.
  ASSERT_TRUE(queue.Push(TestNow(), TestNow() + absl::Seconds(1), 200, 0.9));
  out.clear();
  queue.PopServable(2, 0.85, never, &out, &dropped);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, 4);
  EXPECT_EQ(out[1].payload, 5);
}

TEST(EdfQueueFloorTest, TheSearchForFlooredEntriesIsBounded) {
  IntQueue queue(512);
  // The one floored entry is 300 deep; a batch of 2 looks 8 x 2 + 64 = 80 deep at most.
  for (int id = 0; id < 301; ++id) {
    ASSERT_TRUE(queue.Push(TestNow(), TestNow() + absl::Microseconds(10 + id), int{id},
                           id == 300 ? 0.9 : 0.0));
  }
  std::vector<IntQueue::Entry> out, dropped;
  const auto never = [](const IntQueue::Entry&) { return false; };
  queue.PopServable(2, 0.9, never, &out, &dropped);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, 0);
  EXPECT_EQ(out[1].payload, 1);
  EXPECT_TRUE(queue.has_floors());
  EXPECT_EQ(queue.size(), 299);
  EXPECT_EQ(queue.top().payload, 2);
}

TEST(EdfQueueFloorTest, PopServableDropsWhatItPassesOverWhenHopeless) {
  IntQueue queue(16);
  for (int id = 0; id < 4; ++id) {
    ASSERT_TRUE(queue.Push(TestNow(), TestNow() + absl::Milliseconds(1 + id), int{id},
                           id % 2 == 1 ? 0.9 : 0.0));
  }
  std::vector<IntQueue::Entry> out, dropped;
  // Id 1 is hopeless, id 3 is not; the batch wants 5 but only ids 0 and 2 are servable.
  queue.PopServable(
      5, 0.8, [](const IntQueue::Entry& e) { return e.payload == 1; }, &out, &dropped);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0].payload, 1);
  ASSERT_EQ(queue.size(), 1);
  EXPECT_EQ(queue.top().payload, 3);
  EXPECT_EQ(queue.View(TestNow(), false).Servable(0.8), 0);
}

TEST(EdfQueueFloorTest, RemoveIfUncountsTheFloorsItRemoves) {
  IntQueue queue(16);
  ASSERT_TRUE(queue.Push(TestNow(), TestNow() + absl::Milliseconds(1), 0, 0.9));
  ASSERT_TRUE(queue.Push(TestNow(), TestNow() + absl::Milliseconds(2), 1, 0.85));
  std::vector<IntQueue::Entry> removed;
  queue.RemoveIf([](int id) { return id == 0; }, &removed);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(queue.View(TestNow(), false).Servable(0.85), 1);
  queue.RemoveIf([](int) { return true; }, &removed);
  EXPECT_FALSE(queue.has_floors());
}

// ---- Floor tiers and admission.

// A profile where a more accurate sub-net (2) is faster than a less accurate one (1).
LatencyProfile UnevenProfile() {
  return MakeProfile({{0, 0.80, {1000, 1200}},
                      {1, 0.85, {3000, 3600}},
                      {2, 0.88, {2000, 2400}},
                      {3, 0.90, {4000, 4800}}},
                     /*overhead_us=*/100);
}

TEST(PolicyFloorTest, TiersNameTheFastestSubnetMeetingEachFloor) {
  SlackFitPolicy policy(UnevenProfile(), 4, 0);
  ASSERT_EQ(policy.floor_tiers().size(), 4u);
  EXPECT_DOUBLE_EQ(policy.max_accuracy(), 0.90);
  const FloorTier* tier = policy.TierFor(0.84);
  ASSERT_NE(tier, nullptr);
  EXPECT_EQ(tier->subnet_id, 1);   // the least accurate meeting 0.84
  EXPECT_EQ(tier->fastest_id, 2);  // but sub-net 2 is faster and meets it too
  EXPECT_EQ(policy.MinLatencyForFloor(0.84), absl::Microseconds(2000));
  EXPECT_EQ(policy.MinLatencyForFloor(0.89), absl::Microseconds(4000));
  EXPECT_EQ(policy.MinLatencyForFloor(0), absl::Microseconds(1000));
  EXPECT_EQ(policy.TierFor(0.95), nullptr);
  EXPECT_EQ(policy.MinLatencyForFloor(0.95), absl::InfiniteDuration());
  EXPECT_DOUBLE_EQ(policy.AccuracyOf(2), 0.88);
  EXPECT_EQ(policy.AccuracyOf(7), -1);
  policy.set_latency_scale(2);  // the engine runs at half speed
  EXPECT_EQ(policy.MinLatencyForFloor(0.84), absl::Microseconds(4000));
}

TEST(PolicyFloorTest, FixedAndClipperServeTheFloorsOfTheirOneSubnet) {
  for (const std::string spec : {"fixed:2", "clipper:2"}) {
    SCOPED_TRACE(spec);
    absl::StatusOr<std::unique_ptr<Policy>> policy = CreatePolicy(spec, UnevenProfile());
    ASSERT_TRUE(policy.ok()) << policy.status();
    ASSERT_EQ((*policy)->floor_tiers().size(), 1u);
    EXPECT_DOUBLE_EQ((*policy)->max_accuracy(), 0.88);
    EXPECT_EQ((*policy)->TierFor(0.89), nullptr);
    ASSERT_NE((*policy)->TierFor(0.5), nullptr);
    EXPECT_EQ((*policy)->TierFor(0.5)->fastest_id, 2);
  }
  absl::StatusOr<std::unique_ptr<Policy>> infaas = CreatePolicy("infaas", UnevenProfile());
  ASSERT_TRUE(infaas.ok());
  EXPECT_EQ((*infaas)->floor_tiers().size(), 4u);
}

TEST(PolicyFloorTest, AdmitFloorRefusesWhatNoSubnetCanMeetInTime) {
  const SlackFitPolicy policy(UnevenProfile(), 4, 0);
  const absl::Time now = TestNow();
  auto due = [now](double us) { return now + absl::Microseconds(us); };
  // No floor, and floors met in time.
  EXPECT_TRUE(AdmitFloor(policy, 0, due(10), now).ok());
  EXPECT_TRUE(AdmitFloor(policy, 0.9, due(4100), now).ok());  // 4000 + 100 overhead
  // Above every sub-net: OUT_OF_RANGE naming the most accurate.
  absl::Status above = AdmitFloor(policy, 0.95, due(1e9), now);
  EXPECT_EQ(above.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(above.message(), HasSubstr("sub-net 3"));
  EXPECT_THAT(above.message(), HasSubstr("0.9"));
  // Sub-net 3 meets 0.9 but needs 4.1 ms; 3 ms are left, enough for a sub-net below the floor.
  absl::Status late = AdmitFloor(policy, 0.9, due(3000), now);
  EXPECT_EQ(late.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(late.message(), HasSubstr("sub-net 3"));
  // Hopeless for every sub-net: admitted, for the hopeless rule to answer as any other (--late).
  EXPECT_TRUE(AdmitFloor(policy, 0.9, due(500), now).ok());
  // A policy built without a profile knows no accuracy: it serves no floor.
  const FixedPolicy bare(0, 8, absl::ZeroDuration());
  EXPECT_EQ(AdmitFloor(bare, 0.5, due(1e9), now).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(AdmitFloor(bare, 0, due(1e9), now).ok());
}

// ---- Policy tables with floors in the queue.

// `size` queued, the head due `slack_us` from now with floor `head_floor`, and `floors` among them.
QueueView FlooredQueue(int size, double slack_us, double head_floor,
                       const std::map<double, int>* floors, double waited_us = 0) {
  QueueView view = Queue(size, slack_us, waited_us);
  view.head_floor = head_floor;
  view.floors = floors;
  return view;
}

// ThreeSubnetProfile, 4 buckets: [1000, 3150) holds sub-net 0 at batches 1-8 and sub-net 1 at 1-2;
// [3150, 5300) sub-net 1 at 4-8 and sub-net 2 at 1-2; then sub-net 2 at 4 (6400) and 8 (9600).
TEST(SlackFitFloorTest, Table) {
  const SlackFitPolicy policy(ThreeSubnetProfile(), 4, 0);
  const std::map<double, int> all_085 = {{0.85, 4}};
  const std::map<double, int> two_090 = {{0.90, 2}};
  struct Case {
    std::string name;
    QueueView queue;
    Decision want;
  };
  const std::vector<Case> cases = {
      // A floor that forces a slower sub-net under load: 4 queued with 2.5 ms of slack take
      // sub-net 0 at batch 4 (1.6 ms); needing 0.85, they get sub-net 1 at the largest batch that
      // fits (2, 2.4 ms).
      {"no floor", FlooredQueue(4, 2500, 0, nullptr), Decision::Run(0, 4)},
      {"floor 0.85 on all", FlooredQueue(4, 2500, 0.85, &all_085), Decision::Run(1, 2)},
      // Mixed floors in one queue: a head without a floor, 2 of the 4 needing 0.90. Sub-net 0
      // could take only the 2 without (Servable), so batch 4 on it is out; sub-net 1 at batch 2
      // is the first in the bucket's order it can fill. The two with floors wait.
      {"mixed, short slack", FlooredQueue(4, 2500, 0, &two_090), Decision::Run(1, 2)},
      // With 7 ms, the slowest fitting bucket's sub-net 2 at batch 4 meets every floor: one batch.
      {"mixed, long slack", FlooredQueue(4, 7000, 0, &two_090), Decision::Run(2, 4)},
      // A head needing 0.90 with 4.5 ms: only sub-net 2 at batch 1 (4 ms) fits.
      {"head floor 0.90", FlooredQueue(4, 4500, 0.90, &two_090), Decision::Run(2, 1)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(policy.Choose(TestNow(), c.queue), c.want);
  }
}

TEST(SlackFitFloorTest, OverloadRunsTheFastestSubnetMeetingTheHeadFloor) {
  const SlackFitPolicy policy(ThreeSubnetProfile(), 4, 0);
  const std::map<double, int> floors = {{0.85, 40}};
  // 40 queued, all needing 0.85, 2 ms of a 10 ms SLO left: no choice drains the queue (step 7).
  // Sub-net 0 is the fastest overall but below the floor; sub-net 1 at batch 8 (4.8 ms, within the
  // SLO) is the fastest that meets it.
  const Decision d =
      policy.Choose(TestNow(), FlooredQueue(40, 2000, 0.85, &floors, /*waited_us=*/8000));
  EXPECT_EQ(d.subnet_id, 1);
  EXPECT_EQ(d.batch, 8);
  EXPECT_EQ(d.shed_before, TestNow() + absl::Microseconds(4800));
}

TEST(InfaasFloorTest, TakesTheMostAccurateSubnetThatMeetsTheHeadFloorAtAServableBatch) {
  const InfaasPolicy policy(ThreeSubnetProfile(), 8);
  const std::map<double, int> floors = {{0.85, 1}};
  // 4 queued, 1 needing 0.85 (the head), 2.5 ms: batch 4 fits no sub-net; batch 2 fits sub-net 1
  // (2.4 ms), the most accurate that does.
  EXPECT_EQ(policy.Choose(TestNow(), FlooredQueue(4, 2500, 0.85, &floors)), Decision::Run(1, 2));
  // A head floor no sub-net fitting the slack meets: the fastest that meets it, at batch 1.
  const std::map<double, int> high = {{0.9, 1}};
  EXPECT_EQ(policy.Choose(TestNow(), FlooredQueue(4, 2500, 0.9, &high)), Decision::Run(2, 1));
}

// ---- TakeNextBatch.

class FloorDispatchStepTest : public ::testing::Test {
 protected:
  void Add(int id, double slack_us, double floor) {
    ASSERT_TRUE(queue_.Push(TestNow(), TestNow() + absl::Microseconds(slack_us), int{id}, floor));
  }
  Decision Step(LateMode late) {
    return TakeNextBatch(TestNow(), false, slackfit_, late, &queue_, &batch_, &dropped_);
  }
  static std::vector<int> Ids(const std::vector<IntQueue::Entry>& entries) {
    std::vector<int> ids;
    for (const IntQueue::Entry& e : entries) ids.push_back(e.payload);
    return ids;
  }

  IntQueue queue_{100};
  std::vector<IntQueue::Entry> batch_;
  std::vector<IntQueue::Entry> dropped_;
  const SlackFitPolicy slackfit_{ThreeSubnetProfile(), 4, 0};
};

TEST_F(FloorDispatchStepTest, TheBatchPassesOverFloorsItsSubnetMissesAndTheyStayQueued) {
  Add(0, 2500, 0);
  Add(1, 8000, 0.9);
  Add(2, 9000, 0);
  Add(3, 9500, 0.9);
  // As in the table: sub-net 1 at batch 2, filled from the requests without a floor.
  EXPECT_EQ(Step(LateMode::kDrop), Decision::Run(1, 2));
  EXPECT_THAT(Ids(batch_), ElementsAre(0, 2));
  EXPECT_TRUE(dropped_.empty());
  ASSERT_EQ(queue_.size(), 2);
  EXPECT_EQ(queue_.top().payload, 1);
}

TEST_F(FloorDispatchStepTest, DropsPassedOverRequestsHopelessForTheirFloor) {
  Add(0, 2500, 0);
  Add(1, 3000, 0.9);  // sub-net 2 needs 4 ms: hopeless for its floor, not without it
  Add(2, 3500, 0);
  EXPECT_EQ(Step(LateMode::kDrop), Decision::Run(1, 2));
  EXPECT_THAT(Ids(batch_), ElementsAre(0, 2));
  EXPECT_THAT(Ids(dropped_), ElementsAre(1));
  EXPECT_TRUE(queue_.empty());
  // With late=serve it stays, to be served late on a sub-net that meets its floor.
  Add(0, 2500, 0);
  Add(1, 3000, 0.9);
  Add(2, 3500, 0);
  EXPECT_EQ(Step(LateMode::kServe), Decision::Run(1, 2));
  EXPECT_TRUE(dropped_.empty());
  ASSERT_EQ(queue_.size(), 1);
  EXPECT_EQ(queue_.top().payload, 1);
}

TEST_F(FloorDispatchStepTest, HopelessHeadsByTheirFloor) {
  // 1.5 ms: enough for sub-net 0 (1 ms), not for sub-net 1 (2 ms) that a 0.85 floor needs.
  Add(0, 1500, 0.85);
  Add(1, 20000, 0);
  Decision d = Step(LateMode::kDrop);
  EXPECT_THAT(Ids(dropped_), ElementsAre(0));
  EXPECT_EQ(d, Decision::Run(2, 1));  // then id 1 alone, with 20 ms: the most accurate
  EXPECT_THAT(Ids(batch_), ElementsAre(1));
  // late=serve: it runs late, on the fastest sub-net that meets its floor, never below it.
  Add(0, 1500, 0.85);
  d = Step(LateMode::kServe);
  EXPECT_TRUE(d.late);
  EXPECT_EQ(d.subnet_id, 1);
  EXPECT_THAT(Ids(batch_), ElementsAre(0));
}

TEST_F(FloorDispatchStepTest, AFloorAboveEverySubnetIsDroppedEvenWithLateServe) {
  // Only after a model swap can one be queued (admission refuses it); it never runs.
  Add(0, 1e6, 0.99);
  EXPECT_EQ(Step(LateMode::kServe).batch, 0);
  EXPECT_THAT(Ids(dropped_), ElementsAre(0));
  EXPECT_TRUE(batch_.empty());
}

TEST_F(FloorDispatchStepTest, APolicyBlindToFloorsNeverServesBelowThem) {
  // A fixed:0 that knows all three sub-nets chooses sub-net 0 whatever is queued (admission keeps
  // such queues from a real fixed policy). A lone head needing 0.85 runs on sub-net 1 instead.
  FixedPolicy blind(0, 8, absl::ZeroDuration());
  blind.SetRunnableSubnets(ThreeSubnetProfile());
  Add(0, 1e6, 0.85);
  const Decision d =
      TakeNextBatch(TestNow(), false, blind, LateMode::kDrop, &queue_, &batch_, &dropped_);
  EXPECT_EQ(d, Decision::Run(1, 1));
  EXPECT_THAT(Ids(batch_), ElementsAre(0));
  EXPECT_TRUE(queue_.empty());
}

}  // namespace
}  // namespace ternserve
