// Tests for scheduler/edf_queue.h: EDF order, ties in arrival order, the bound.
#include "scheduler/edf_queue.h"

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
  const QueueView view = queue.View(/*flush=*/false);
  EXPECT_EQ(view.size, 6);
  EXPECT_EQ(view.earliest_deadline, At(10));
  EXPECT_EQ(view.head_arrival, At(1));
  std::vector<int> order;
  while (!queue.empty()) order.push_back(queue.Pop().payload);
  EXPECT_THAT(order, ElementsAre(1, 3, 4, 2, 0, 5));
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
