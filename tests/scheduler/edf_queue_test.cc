// Tests for scheduler/edf_queue.h: EDF order, ties in arrival order, the bound.
#include "scheduler/edf_queue.h"

#include <cmath>
#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/scheduler/policy_test_util.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;

absl::Time At(int ms) { return TestNow() + absl::Milliseconds(ms); }

TEST(EdfQueueTest, PopsEarliestDeadlineFirstAndTiesInArrivalOrder) {
  EdfQueue<int> queue(10);
  const int deadlines_ms[] = {50, 10, 30, 10, 20, 50};
  for (int id = 0; id < 6; ++id) ASSERT_TRUE(queue.Push(At(id), At(deadlines_ms[id]), int{id}));
  EXPECT_EQ(queue.top().payload, 1);
  const QueueView view = queue.View(absl::UnixEpoch(), /*flush=*/false);
  EXPECT_EQ(view.size, 6);
  EXPECT_EQ(view.earliest_deadline, At(10));
  EXPECT_EQ(view.head_arrival, At(1));
  std::vector<int> order;
  while (!queue.empty()) order.push_back(queue.Pop().payload);
  EXPECT_THAT(order, ElementsAre(1, 3, 4, 2, 0, 5));
}

TEST(EdfQueueTest, TheArrivalRateFollowsTheArrivalsAndDecays) {
  EdfQueue<int> queue(1000);
  EXPECT_EQ(queue.ArrivalRate(At(0)), 0);
  // One arrival every 0.5 ms for 300 ms (ten time constants): 2000/s.
  for (int i = 0; i < 600; ++i) {
    queue.Push(TestNow() + absl::Microseconds(500 * i), At(1000), int{i});
  }
  const absl::Time last = TestNow() + absl::Microseconds(500 * 599);
  EXPECT_NEAR(queue.ArrivalRate(last), 2000, 100);
  EXPECT_NEAR(queue.View(last, false).arrival_rate, queue.ArrivalRate(last), 1e-9);
  // A burst: 150 arrivals at once lift it by 150 / 30 ms.
  for (int i = 0; i < 150; ++i) queue.Push(last, At(1000), int{i});
  EXPECT_NEAR(queue.ArrivalRate(last), 2000 + 5000, 100);
  // Silence: e^-1 after one time constant, near 0 after ten.
  EXPECT_NEAR(queue.ArrivalRate(last + absl::Milliseconds(30)), 7000 / std::exp(1.0), 50);
  EXPECT_LT(queue.ArrivalRate(last + absl::Milliseconds(300)), 1);
  // Refused arrivals still count: they are load.
  EdfQueue<int> tiny(1);
  ASSERT_TRUE(tiny.Push(At(0), At(5), 1));
  EXPECT_FALSE(tiny.Push(At(0), At(5), 2));
  EXPECT_NEAR(tiny.ArrivalRate(At(0)), 2 / 0.030, 1e-9);
}

TEST(EdfQueueTest, FullQueueRefusesAndLeavesPayloadWithCaller) {
  EdfQueue<std::unique_ptr<int>> queue(2);
  auto a = std::make_unique<int>(1);
  auto b = std::make_unique<int>(2);
  auto c = std::make_unique<int>(3);
  EXPECT_TRUE(queue.Push(At(0), At(5), std::move(a)));
  EXPECT_TRUE(queue.Push(At(0), At(5), std::move(b)));
  EXPECT_TRUE(queue.full());
  EXPECT_FALSE(queue.Push(At(0), At(1), std::move(c)));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(*c, 3);
  EXPECT_EQ(*queue.Pop().payload, 1);
  EXPECT_TRUE(queue.Push(At(0), At(1), std::move(c)));
  EXPECT_EQ(*queue.Pop().payload, 3);
}

TEST(EdfQueueTest, ZeroCapacityRefusesEverything) {
  EdfQueue<int> queue(0);
  EXPECT_FALSE(queue.Push(At(0), At(1), 1));
  EXPECT_TRUE(queue.empty());
}

}  // namespace
}  // namespace ternserve
