// Small latency profiles for scheduler tests, built in code.
#ifndef TERNSERVE_TESTS_SCHEDULER_TEST_PROFILE_H_
#define TERNSERVE_TESTS_SCHEDULER_TEST_PROFILE_H_

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "scheduler/latency_profile.h"

namespace ternserve {

// One sub-net's row: id, accuracy, and p99 in µs at batches 1, 2, 4, 8, ... (p50 = 0.8 x p99).
struct TestSubnet {
  int id;
  double accuracy;
  std::vector<double> p99_us;
};

inline LatencyProfile MakeProfile(std::initializer_list<TestSubnet> rows, double overhead_us = 0) {
  LatencyProfile profile;
  profile.bundle_name = "test";
  profile.engine = "ternary";
  profile.isa = "scalar";
  profile.overhead_us = overhead_us;
  for (const TestSubnet& row : rows) {
    SubnetLatency subnet;
    subnet.id = row.id;
    subnet.name = absl::StrCat("s", row.id);
    subnet.accuracy = row.accuracy;
    int batch = 1;
    for (double p99 : row.p99_us) {
      subnet.batches.push_back({batch, 0.8 * p99, p99});
      batch *= 2;
    }
    profile.subnets.push_back(std::move(subnet));
  }
  return profile;
}

// Three sub-nets, batches 1..8:
//   id 0: accuracy 0.80, p99 1000 1200 1600 2400 µs
//   id 1: accuracy 0.85, p99 2000 2400 3200 4800 µs
//   id 2: accuracy 0.90, p99 4000 4800 6400 9600 µs
inline LatencyProfile ThreeSubnetProfile(double overhead_us = 0) {
  return MakeProfile({{0, 0.80, {1000, 1200, 1600, 2400}},
                      {1, 0.85, {2000, 2400, 3200, 4800}},
                      {2, 0.90, {4000, 4800, 6400, 9600}}},
                     overhead_us);
}

// A profile shaped like a real Pareto set: `n` sub-nets, the i-th slower and more accurate,
// batches 1..64 with per-batch cost growing linearly.
inline LatencyProfile LadderProfile(int n = 6) {
  LatencyProfile profile;
  profile.engine = "ternary";
  profile.overhead_us = 30;
  for (int i = 0; i < n; ++i) {
    SubnetLatency subnet;
    subnet.id = 10 + i;
    subnet.name = absl::StrCat("ladder", i);
    subnet.accuracy = 0.85 + 0.01 * i;
    for (int batch : kProfiledBatches) {
      const double p50 = 300 + 400 * i + (80 + 120 * i) * (batch - 1);
      subnet.batches.push_back({batch, p50, 1.2 * p50});
    }
    profile.subnets.push_back(std::move(subnet));
  }
  return profile;
}

}  // namespace ternserve

#endif  // TERNSERVE_TESTS_SCHEDULER_TEST_PROFILE_H_
