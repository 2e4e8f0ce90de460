// Tests for server/classify_task.cc: a request of N images crosses a real Dispatcher as N tasks
// that share one ClassifyCall, which completes once, after the last of them, with every image's
// own result in image order, whichever batches they ran in. This is what lets a front end take an
// [N,1,28,28] request with no change to the scheduler.
#include "server/classify_task.h"

#include <memory>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/arch.h"
#include "scheduler/dispatcher.h"
#include "scheduler/fixed_policy.h"
#include "server/engine_batch_processor.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/pixel_engine.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;

TEST(ClassifyTaskTest, ARequestOfNImagesIsNTasksSharingOneCompletion) {
  FakeClock clock;
  PixelEngineControl control;
  std::vector<std::unique_ptr<Engine>> engines;
  engines.push_back(control.MakeEngine());
  EngineBatchProcessor processor(std::move(engines), PixelEngine::kClasses);
  DispatcherOptions options;
  // Batches of 3 as soon as 3 are queued; a smaller one waits (an hour on a clock that does not
  // move) until the drain flushes it. So 7 images run as 3, 3 and 1.
  options.policy = std::make_shared<FixedPolicy>(0, 3, absl::Hours(1));
  Dispatcher dispatcher(options, &processor, &clock);

  constexpr int kImages = 7;
  std::vector<std::vector<float>> images(kImages, std::vector<float>(kImagePixels, 0.0f));
  for (int i = 0; i < kImages; ++i) images[i][static_cast<size_t>(i % 10)] = 0.1f * (i + 1);

  int calls = 0;
  std::vector<ImageResult> results;
  absl::Notification done;
  auto call = std::make_shared<ClassifyCall>(kImages, [&](std::vector<ImageResult> r) {
    ++calls;
    results = std::move(r);
    done.Notify();
  });
  const absl::Time arrival = clock.Now();
  for (int i = 0; i < kImages; ++i) {
    std::unique_ptr<Task> task =
        std::make_unique<ClassifyTask>(arrival, arrival + absl::Seconds(1), images[i], call, i);
    ASSERT_TRUE(dispatcher.Enqueue(&task).ok());
  }
  call.reset();                          // the tasks keep it alive
  EXPECT_FALSE(done.HasBeenNotified());  // image 6 waits for a batch to fill
  dispatcher.Drain();
  ASSERT_TRUE(done.HasBeenNotified());

  EXPECT_EQ(calls, 1);
  ASSERT_EQ(results.size(), static_cast<size_t>(kImages));
  std::vector<int> batch_sizes;
  for (int i = 0; i < kImages; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(results[i].outcome.status.ok()) << results[i].outcome.status;
    ASSERT_EQ(results[i].logits.size(), 10u);
    EXPECT_FLOAT_EQ(results[i].logits[static_cast<size_t>(i % 10)], 1.0f * (i + 1));
    batch_sizes.push_back(results[i].outcome.batch_size);
  }
  // EDF with equal deadlines keeps arrival order: images 0-2, 3-5, then 6.
  EXPECT_THAT(batch_sizes, ElementsAre(3, 3, 3, 3, 3, 3, 1));
}

TEST(ClassifyTaskTest, ADroppedImageCarriesItsStatusAndNoLogits) {
  std::vector<ImageResult> results;
  auto call = std::make_shared<ClassifyCall>(
      2, [&](std::vector<ImageResult> r) { results = std::move(r); });
  const std::vector<float> pixels(kImagePixels, 0.0f);
  ClassifyTask ran(absl::Time(), absl::Time(), pixels, call, 0);
  ClassifyTask dropped(absl::Time(), absl::Time(), pixels, call, 1);
  ran.SetLogits(std::vector<float>{1, 2, 3});
  dropped.SetLogits(std::vector<float>{4, 5, 6});  // a result the outcome says it has not
  TaskOutcome ok;
  ok.batch_size = 1;
  TaskOutcome late;
  late.status = absl::DeadlineExceededError("too late");
  dropped.Finish(late);
  EXPECT_TRUE(results.empty());  // one image still running
  ran.Finish(ok);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_THAT(results[0].logits, ElementsAre(1, 2, 3));
  EXPECT_EQ(results[1].outcome.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(results[1].logits.empty());
}

}  // namespace
}  // namespace ternserve
