// Tests for server/engine_batch_processor.cc with PixelEngines: it gathers each task's pixels in
// batch order into its worker's buffer, hands each task its own row of the engine's (padded)
// logits, and turns an engine failure or a malformed engine answer into an error.
#include "server/engine_batch_processor.h"

#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/arch.h"
#include "server/classify_task.h"
#include "tests/testing/pixel_engine.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

// An image whose pixel `c` is 0.5 and the rest 0: PixelEngine gives it logit 5 for class c.
std::vector<float> BrightAt(int c) {
  std::vector<float> pixels(kImagePixels, 0.0f);
  pixels[static_cast<size_t>(c)] = 0.5f;
  return pixels;
}

// The processor's output as the call sees it: the results of a batch's tasks, in image order.
std::vector<ImageResult> RunAndCollect(EngineBatchProcessor& processor, int worker,
                                       const std::vector<std::vector<float>>& images,
                                       absl::Status* status) {
  std::vector<ImageResult> collected;
  auto call = std::make_shared<ClassifyCall>(
      static_cast<int>(images.size()),
      [&collected](std::vector<ImageResult> results) { collected = std::move(results); });
  std::vector<std::unique_ptr<ClassifyTask>> tasks;
  std::vector<Task*> batch;
  for (size_t i = 0; i < images.size(); ++i) {
    tasks.push_back(std::make_unique<ClassifyTask>(absl::Time(), absl::Time(), images[i], call,
                                                   static_cast<int>(i)));
    batch.push_back(tasks.back().get());
  }
  *status = processor.ProcessBatch(worker, 0, batch);
  TaskOutcome outcome;
  outcome.status = *status;
  for (auto& task : tasks) task->Finish(outcome);
  return collected;
}

std::unique_ptr<EngineBatchProcessor> TwoWorkers(PixelEngineControl* control, int num_classes) {
  std::vector<std::unique_ptr<Engine>> engines;
  engines.push_back(control->MakeEngine());
  engines.push_back(control->MakeEngine());
  return std::make_unique<EngineBatchProcessor>(std::move(engines), num_classes);
}

TEST(EngineBatchProcessorTest, EachTaskGetsItsOwnRowOfLogits) {
  PixelEngineControl control;
  auto processor = TwoWorkers(&control, PixelEngine::kClasses);
  const std::vector<std::vector<float>> images = {BrightAt(3), BrightAt(0), BrightAt(9)};
  for (int worker : {0, 1}) {
    absl::Status status;
    const std::vector<ImageResult> results = RunAndCollect(*processor, worker, images, &status);
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(results.size(), 3u);
    for (size_t i = 0; i < results.size(); ++i) {
      const std::vector<float>& logits = results[i].logits;
      ASSERT_EQ(logits.size(), 10u) << "the padding of the engine's rows is not copied";
      for (int c = 0; c < 10; ++c) EXPECT_EQ(logits[c], images[i][c] * 10.0f) << i << " " << c;
    }
  }
  // A smaller batch after a larger one reuses the buffer and reads only its own images.
  absl::Status status;
  const std::vector<ImageResult> one = RunAndCollect(*processor, 0, {BrightAt(5)}, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].logits[5], 5.0f);
  EXPECT_EQ(control.images_entered(), 7);
}

TEST(EngineBatchProcessorTest, AnEngineFailureIsTheBatchsStatusAndNoTaskHasLogits) {
  PixelEngineControl control;
  control.Fail(absl::InternalError("engine exploded"));
  auto processor = TwoWorkers(&control, PixelEngine::kClasses);
  absl::Status status;
  const std::vector<ImageResult> results =
      RunAndCollect(*processor, 1, {BrightAt(1), BrightAt(2)}, &status);
  EXPECT_EQ(status, absl::InternalError("engine exploded"));
  ASSERT_EQ(results.size(), 2u);
  for (const ImageResult& r : results) EXPECT_TRUE(r.logits.empty());
}

TEST(EngineBatchProcessorTest, LogitsOfTheWrongShapeAreInternal) {
  PixelEngineControl control;
  auto processor = TwoWorkers(&control, /*num_classes=*/7);  // the engine gives 10
  absl::Status status;
  RunAndCollect(*processor, 0, {BrightAt(1)}, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("returned 1 x 10 logits for a batch of 1 x 7"));
}

TEST(EngineBatchProcessorTest, AnImageOfTheWrongSizeOrAnUnknownWorkerIsInternal) {
  PixelEngineControl control;
  auto processor = TwoWorkers(&control, PixelEngine::kClasses);
  absl::Status status;
  RunAndCollect(*processor, 0, {BrightAt(1), std::vector<float>(10, 0.0f)}, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("task 1 of the batch has 10 pixels"));
  RunAndCollect(*processor, 2, {BrightAt(1)}, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("worker 2 has no engine"));
  EXPECT_EQ(control.images_entered(), 0);  // neither reached an engine
}

}  // namespace
}  // namespace ternserve
