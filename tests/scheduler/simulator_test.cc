// Tests for scheduler/simulator.cc: determinism, accounting, and that the policies behave as they
// should at the extremes (slackfit: the most accurate sub-net at tiny load, fast sub-nets and big
// batches under overload), the SLO reserve and the outside time. Also prints the simulator's
// throughput (not asserted: machines differ).
#include "scheduler/simulator.h"

#include <chrono>
#include <cstdio>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/scheduler/test_profile.h"

namespace ternserve {
namespace {

SimulationResult Simulated(const std::string& trace_spec, SimulatorOptions options,
                           const LatencyProfile& profile = LadderProfile(),
                           uint64_t trace_seed = 1) {
  absl::StatusOr<TraceSpec> spec = ParseTraceSpec(trace_spec);
  EXPECT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<std::unique_ptr<ArrivalSource>> trace = OpenTrace(*spec, trace_seed);
  EXPECT_TRUE(trace.ok()) << trace.status();
  absl::StatusOr<SimulationResult> result = Simulate(profile, trace->get(), options);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : SimulationResult{};
}

SimulatorOptions Options(const std::string& policy, int workers, double slo_ms) {
  SimulatorOptions options;
  options.policy = policy;
  options.workers = workers;
  options.slo = absl::Microseconds(slo_ms * 1000);
  return options;
}

int64_t MostUsedSubnet(const SimulationResult& r) {
  int best = -1;
  int64_t count = -1;
  for (const auto& [id, n] : r.subnet_requests) {
    if (n > count) {
      best = id;
      count = n;
    }
  }
  return best;
}

TEST(SimulatorTest, DeterministicForASeed) {
  const SimulatorOptions options = Options("slackfit", 4, 20);
  const SimulationResult a = Simulated("gamma:rate=3000,cv2=4,duration=5", options);
  const SimulationResult b = Simulated("gamma:rate=3000,cv2=4,duration=5", options);
  EXPECT_EQ(SimulationResultToJson(a, options), SimulationResultToJson(b, options));
  SimulatorOptions other_seed = options;
  other_seed.seed = 2;
  EXPECT_NE(
      SimulationResultToJson(Simulated("gamma:rate=3000,cv2=4,duration=5", other_seed), options),
      SimulationResultToJson(a, options));
}

TEST(SimulatorTest, DeterministicForASeedWithASpeedSpec) {
  SimulatorOptions options = Options("slackfit", 1, 20);
  options.policy_options.adapt_latency = true;
  options.speed = *ParseSpeedSpec("spells:factor=1.4,on_s=0.5,off_s=1");
  const std::string trace = "gamma:rate=2000,cv2=4,duration=10";
  const SimulationResult a = Simulated(trace, options);
  EXPECT_EQ(SimulationResultToJson(a, options),
            SimulationResultToJson(Simulated(trace, options), options));
  EXPECT_GT(a.mean_latency_scale, 1.0);  // it saw the spells
  SimulatorOptions other_seed = options;
  other_seed.seed = 2;
  EXPECT_NE(SimulationResultToJson(Simulated(trace, other_seed), options),
            SimulationResultToJson(a, options));
}

// On the ladder profile: a 1.8x slowdown halfway through, at 0.3x the fastest sub-net's capacity
// (gamma cv2 = 4, 25 ms SLO). Planning with the stale profile, SlackFit keeps picking choices
// that now overrun; with the online model it holds the SLO.
TEST(SimulatorTest, TheLatencyModelHoldsTheSloThroughASlowdownStep) {
  SimulatorOptions options = Options("slackfit", 1, 25);
  options.speed = *ParseSpeedSpec("step:at=20,factor=1.8");
  // Ladder sub-net 10 at batch 64 in 25 ms: 64 / (1.2 x (300 + 80 x 63) + 30 µs) = 9.95 k/s.
  const std::string trace = "gamma:rate=3000,cv2=4,duration=40";
  const SimulationResult static_slackfit = Simulated(trace, options);
  options.policy_options.adapt_latency = true;
  const SimulationResult adaptive = Simulated(trace, options);
  EXPECT_GE(adaptive.slo_attainment, 0.999);
  EXPECT_LT(static_slackfit.slo_attainment, adaptive.slo_attainment);
  EXPECT_NEAR(adaptive.final_latency_scale, 1.8, 0.25);
  EXPECT_EQ(static_slackfit.final_latency_scale, 1.0);
}

TEST(SimulatorTest, AccountsForEveryRequest) {
  for (const std::string policy : {"slackfit", "infaas", "clipper", "fixed:10"}) {
    SCOPED_TRACE(policy);
    const SimulationResult r =
        Simulated("gamma:rate=20000,cv2=8,duration=3", Options(policy, 2, 10));
    EXPECT_GT(r.requests, 50000);
    EXPECT_EQ(r.served + r.dropped + r.rejected, r.requests);
    EXPECT_LE(r.met, r.served);
    int64_t mix_total = 0;
    for (const auto& [id, n] : r.subnet_requests) mix_total += n;
    EXPECT_EQ(mix_total, r.served);
    EXPECT_NEAR(r.mean_batch * static_cast<double>(r.batches), static_cast<double>(r.served), 1);
    EXPECT_DOUBLE_EQ(r.slo_attainment,
                     static_cast<double>(r.met) / static_cast<double>(r.requests));
    EXPECT_LE(r.p50_ms, r.p99_ms);
  }
}

TEST(SimulatorTest, SlackFitServesTheMostAccurateSubnetAtTinyLoad) {
  // 20 req/s on 2 workers with a 50 ms SLO: the queue never holds more than one request.
  const SimulationResult r = Simulated("poisson:rate=20,duration=200", Options("slackfit", 2, 50));
  EXPECT_EQ(MostUsedSubnet(r), 15);  // the ladder's most accurate
  EXPECT_NEAR(r.mean_accuracy, 0.90, 0.002);
  EXPECT_EQ(r.slo_attainment, 1.0);
  EXPECT_NEAR(r.mean_batch, 1.0, 0.01);
}

TEST(SimulatorTest, SlackFitMovesToFastSubnetsAndBigBatchesUnderHeavyLoad) {
  // The fastest sub-net peaks at 64 / (1.2 x 5340 µs) ~ 10 k req/s per worker; the most accurate
  // one manages ~1 k req/s per worker within a 25 ms SLO. 14 k req/s on 2 workers is 0.7x the
  // fastest sub-net's capacity and far beyond the most accurate one's.
  const SimulationResult light =
      Simulated("poisson:rate=200,duration=20", Options("slackfit", 2, 25));
  const SimulationResult heavy =
      Simulated("poisson:rate=14000,duration=5", Options("slackfit", 2, 25));
  EXPECT_LT(heavy.mean_accuracy, light.mean_accuracy - 0.02);
  EXPECT_GT(heavy.mean_batch, 5 * light.mean_batch);
  EXPECT_LT(MostUsedSubnet(heavy), 13);
  EXPECT_GT(heavy.slo_attainment, 0.999);
  // The most accurate sub-net alone cannot keep up.
  const SimulationResult fixed =
      Simulated("poisson:rate=14000,duration=5", Options("fixed:15", 2, 25));
  EXPECT_LT(fixed.slo_attainment, 0.5);
}

TEST(SimulatorTest, AFloorMixIsDeterministicAndEveryFloorIsHonoured) {
  // The ladder's sub-nets 10..15 have accuracies 0.85..0.90. The mix's capacity on 2 workers
  // (each floor on the fastest sub-net meeting it at its best batch within 25 ms) is about 10 k
  // req/s; at 0.3x of it SlackFit runs requests without a floor on faster sub-nets too, so a floor
  // of 0.88 (sub-nets 13..15) matters. (At 0.5x, 81% of the floored requests make their SLO on
  // this profile: see the README's floor figures.)
  SimulatorOptions options = Options("slackfit", 2, 25);
  options.floor_mix = {{0.88, 0.3}, {0, 0.7}};
  options.record_decisions = true;
  const std::string trace = "poisson:rate=3000,duration=5";
  const SimulationResult a = Simulated(trace, options);
  const SimulationResult b = Simulated(trace, options);
  EXPECT_EQ(SimulationResultToJson(a, options), SimulationResultToJson(b, options));
  EXPECT_TRUE(a.decisions == b.decisions);
  SimulatorOptions other_seed = options;
  other_seed.seed = 2;
  EXPECT_NE(SimulationResultToJson(Simulated(trace, other_seed), options),
            SimulationResultToJson(a, options));

  ASSERT_EQ(a.floors.size(), 2u);
  const SimulationResult::FloorResult& floored = a.floors.at(0.88);
  const SimulationResult::FloorResult& free = a.floors.at(0.0);
  EXPECT_EQ(floored.requests + free.requests, a.requests);
  EXPECT_NEAR(static_cast<double>(floored.requests) / static_cast<double>(a.requests), 0.3, 0.02);
  EXPECT_EQ(a.floor_violations, 0);
  EXPECT_GE(floored.min_served_accuracy, 0.88);
  EXPECT_LT(free.min_served_accuracy, 0.88);  // the floor changed what its requests got
  EXPECT_GT(static_cast<double>(floored.met) / static_cast<double>(floored.requests), 0.99);
  EXPECT_GT(a.slo_attainment, 0.99);
}

TEST(SimulatorTest, AFloorAboveEverySubnetIsRefusedAtArrivalAsAMiss) {
  SimulatorOptions options = Options("slackfit", 1, 25);
  options.floor_mix = {{0.95, 1}, {0, 1}};
  const SimulationResult r = Simulated("poisson:rate=500,duration=4", options);
  const SimulationResult::FloorResult& above = r.floors.at(0.95);
  EXPECT_GT(above.requests, 0);
  EXPECT_EQ(above.refused_above, above.requests);
  EXPECT_EQ(above.served, 0);
  EXPECT_EQ(r.refused_floor, above.requests);
  EXPECT_EQ(r.met, r.requests - above.requests);  // all the others made it at this light load
  nlohmann::json json = nlohmann::json::parse(SimulationResultToJson(r, options));
  EXPECT_EQ(json["floors"]["0.95"]["refused_above"], above.requests);
  EXPECT_EQ(json["refused_floor_at_arrival"], above.requests);
}

TEST(SimulatorTest, LateServeServesWhatDropWouldDrop) {
  SimulatorOptions drop = Options("fixed:15", 1, 5);
  SimulatorOptions serve = drop;
  serve.late = LateMode::kServe;
  const SimulationResult d = Simulated("poisson:rate=3000,duration=2", drop);
  const SimulationResult s = Simulated("poisson:rate=3000,duration=2", serve);
  EXPECT_GT(d.dropped, 0);
  EXPECT_EQ(s.dropped, 0);
  EXPECT_EQ(s.served, s.requests - s.rejected);
  EXPECT_LT(s.slo_attainment, 1.0);
}

TEST(SimulatorTest, FullQueueRejects) {
  SimulatorOptions options = Options("fixed:15", 1, 1000);
  options.max_queue = 4;
  const SimulationResult r = Simulated("poisson:rate=20000,duration=1", options);
  EXPECT_GT(r.rejected, r.requests / 2);
}

TEST(SimulatorTest, TraceSloColumnOverridesTheDefault) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/sim_trace.txt");
  // Two requests 1 s apart; the second has an SLO (0.2 ms) no sub-net can meet.
  std::ofstream(path) << "0\n1000000 0.2\n";
  const SimulationResult r = Simulated("file:" + path, Options("slackfit", 1, 50));
  EXPECT_EQ(r.requests, 2);
  EXPECT_EQ(r.met, 1);
  EXPECT_EQ(r.dropped, 1);
}

TEST(SimulatorTest, JsonHasTheDocumentedFields) {
  const SimulatorOptions options = Options("infaas", 2, 20);
  const nlohmann::json json = nlohmann::json::parse(
      SimulationResultToJson(Simulated("poisson:rate=500,duration=2", options), options));
  for (const char* field : {"requests", "slo_attainment", "dropped", "mean_accuracy", "p50_ms",
                            "p99_ms", "subnet_mix", "mean_batch"}) {
    EXPECT_TRUE(json.contains(field)) << field;
  }
  double mix = 0;
  for (const auto& [id, fraction] : json["subnet_mix"].items()) mix += fraction.get<double>();
  EXPECT_NEAR(mix, 1.0, 1e-9);
}

TEST(SimulatorTest, RefusesBadOptions) {
  absl::StatusOr<std::unique_ptr<ArrivalSource>> trace =
      OpenTrace(*ParseTraceSpec("poisson:rate=1,duration=1"), 1);
  EXPECT_EQ(Simulate(LadderProfile(), trace->get(), Options("nope", 1, 10)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Simulate(LadderProfile(), trace->get(), Options("slackfit", 0, 10)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SimulatorTest, TheReserveMakesThePolicyPlanForAnEarlierDeadline) {
  // At tiny load slackfit serves the most accurate sub-net (p99 2.76 ms at batch 1) within 50 ms;
  // planning for 2 ms it must pick faster ones. Without outside time the client still counts
  // against 50 ms.
  SimulatorOptions reserved = Options("slackfit", 2, 50);
  reserved.slo_reserve = absl::Milliseconds(48);
  const SimulationResult full =
      Simulated("poisson:rate=20,duration=200", Options("slackfit", 2, 50));
  const SimulationResult tight = Simulated("poisson:rate=20,duration=200", reserved);
  EXPECT_EQ(MostUsedSubnet(full), 15);
  EXPECT_LT(MostUsedSubnet(tight), 15);
  EXPECT_LT(tight.mean_accuracy, full.mean_accuracy);
  EXPECT_EQ(tight.slo_attainment, 1.0);
  EXPECT_LT(tight.p99_ms, 2);
}

TEST(SimulatorTest, OutsideTimeCountsAgainstTheSlo) {
  const std::string trace = "poisson:rate=200,duration=20";
  const SimulationResult bare = Simulated(trace, Options("fixed:10", 1, 10));
  SimulatorOptions options = Options("fixed:10", 1, 10);
  // A constant 4 ms outside: every latency grows by it, and the fast sub-net still makes 10 ms.
  options.outside_p50 = options.outside_p99 = absl::Milliseconds(4);
  const SimulationResult near = Simulated(trace, options);
  EXPECT_EQ(bare.slo_attainment, 1.0);
  EXPECT_EQ(near.slo_attainment, 1.0);
  EXPECT_NEAR(near.p50_ms, bare.p50_ms + 4, 0.01);
  // 20 ms outside never makes a 10 ms SLO, though the server is just as fast.
  options.outside_p50 = options.outside_p99 = absl::Milliseconds(20);
  const SimulationResult far = Simulated(trace, options);
  EXPECT_EQ(far.served, bare.served);
  EXPECT_EQ(far.met, 0);
  // A spread (median 2 ms, p99 12 ms) costs slackfit, which plans batches up to the deadline,
  // and a reserve of its p99 does not cost more.
  SimulatorOptions spread = Options("slackfit", 2, 25);
  spread.outside_p50 = absl::Milliseconds(2);
  spread.outside_p99 = absl::Milliseconds(12);
  const SimulationResult exposed = Simulated("gamma:rate=3000,cv2=4,duration=10", spread);
  spread.slo_reserve = absl::Milliseconds(12);
  const SimulationResult covered = Simulated("gamma:rate=3000,cv2=4,duration=10", spread);
  const SimulationResult inside =
      Simulated("gamma:rate=3000,cv2=4,duration=10", Options("slackfit", 2, 25));
  EXPECT_LT(exposed.slo_attainment, inside.slo_attainment);
  EXPECT_GE(covered.slo_attainment, exposed.slo_attainment);
  EXPECT_GT(covered.slo_attainment, 0.99);
}

TEST(SimulatorTest, RefusesABadReserveOrOutsideTime) {
  absl::StatusOr<std::unique_ptr<ArrivalSource>> trace =
      OpenTrace(*ParseTraceSpec("poisson:rate=1,duration=1"), 1);
  SimulatorOptions options = Options("slackfit", 1, 10);
  options.slo_reserve = absl::Milliseconds(10);  // all of the SLO
  EXPECT_EQ(Simulate(LadderProfile(), trace->get(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = Options("slackfit", 1, 10);
  options.outside_p50 = absl::Milliseconds(2);
  options.outside_p99 = absl::Milliseconds(1);
  EXPECT_EQ(Simulate(LadderProfile(), trace->get(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Prints the simulator's speed; the ≥ 1 M requests/s target is checked by eye, not asserted
// (a unit test must not fail because the machine is busy).
TEST(SimulatorTest, PrintsThroughput) {
  const auto start = std::chrono::steady_clock::now();
  const SimulationResult r =
      Simulated("gamma:rate=200000,cv2=4,duration=10", Options("slackfit", 64, 25));
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ throughput ] %lld requests on 64 workers in %.3f s: %.2f M requests/s\n",
              static_cast<long long>(r.requests), wall_s,
              static_cast<double>(r.requests) / wall_s / 1e6);
  EXPECT_GT(r.requests, 1900000);
}

}  // namespace
}  // namespace ternserve
