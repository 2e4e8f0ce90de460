// Tests for scheduler/cpu_affinity.cc and the dispatcher's worker pinning (--worker_cpus): the CPU
// list parser's errors, that a pinned thread runs only on its CPU, and that a dispatcher worker
// runs its batches, under its name, on the CPU it was given.
#include "util/cpu_affinity.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "scheduler/dispatcher.h"
#include "tests/testing/test_task.h"

namespace ternserve {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CpuAffinityTest, OnlineAndAllowedCpusIncludeTheCpuWeRunOn) {
  for (const std::vector<int>& cpus : {OnlineCpus(), AllowedCpus()}) {
    ASSERT_FALSE(cpus.empty());
    EXPECT_TRUE(std::is_sorted(cpus.begin(), cpus.end()));
    EXPECT_NE(std::find(cpus.begin(), cpus.end(), sched_getcpu()), cpus.end());
  }
  for (int cpu : AllowedCpus()) EXPECT_LT(cpu, static_cast<int>(OnlineCpus().size()));
}

TEST(CpuAffinityTest, ParsesOneCpuPerWorker) {
  const std::vector<int> allowed = {0, 1, 2, 3};
  absl::StatusOr<std::vector<int>> one = ParseCpuList("1", allowed);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(*one, ElementsAre(1));
  absl::StatusOr<std::vector<int>> two = ParseCpuList("3,0", allowed);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_THAT(*two, ElementsAre(3, 0));
}

TEST(CpuAffinityTest, RefusesBadListsNamingTheEntry) {
  const std::vector<int> allowed = {0, 1};
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"x", "'x' is not a CPU number"},           {"-1", "'-1' is not a CPU number"},
      {"1,", "'' is not a CPU number"},           {"1;0", "'1;0' is not a CPU number"},
      {"2", "CPU 2 is not online (online: 0,1)"}, {"1,1", "CPU 1 is given twice"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<std::vector<int>> parsed = ParseCpuList(c.text, allowed);
    ASSERT_FALSE(parsed.ok()) << c.text;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(c.message)) << c.text;
  }
}

TEST(CpuAffinityTest, PinnedThreadRunsOnlyOnItsCpu) {
  const std::vector<int> cpus = AllowedCpus();
  const int cpu = cpus.back();
  // The thread starts confined to another CPU (as under `taskset -c 0 ternserve --worker_cpus=1`):
  // pinning must still move it.
  cpu_set_t original, first;
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof original, &original), 0);
  CPU_ZERO(&first);
  CPU_SET(cpus.front(), &first);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof first, &first), 0);
  absl::Notification pinned;
  std::vector<int> seen;
  std::thread thread([&] {
    pinned.WaitForNotification();
    for (int i = 0; i < 50; ++i) {
      seen.push_back(sched_getcpu());
      std::this_thread::yield();
    }
  });
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof original, &original), 0);
  const absl::Status status = PinThread(thread, cpu);
  pinned.Notify();
  thread.join();
  ASSERT_TRUE(status.ok()) << status;
  for (int c : seen) EXPECT_EQ(c, cpu);
}

// Records, for every batch, the CPU and the name of the thread that ran it.
class WhereProcessor : public BatchProcessor {
 public:
  absl::Status ProcessBatch(int /*worker*/, int /*subnet_id*/,
                            absl::Span<Task* const> /*batch*/) override {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    absl::MutexLock lock(&mu_);
    cpus_.push_back(sched_getcpu());
    names_.push_back(name);
    return absl::OkStatus();
  }
  std::vector<int> cpus() {
    absl::MutexLock lock(&mu_);
    return cpus_;
  }
  std::vector<std::string> names() {
    absl::MutexLock lock(&mu_);
    return names_;
  }

 private:
  absl::Mutex mu_;
  std::vector<int> cpus_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> names_ ABSL_GUARDED_BY(mu_);
};

TEST(CpuAffinityTest, DispatcherWorkerRunsItsBatchesOnItsCpu) {
  const int cpu = AllowedCpus().back();
  WhereProcessor processor;
  DispatcherOptions options;
  options.max_batch = 1;
  options.worker_cpus = {cpu};
  Dispatcher dispatcher(options, &processor, RealClock::Get());
  ASSERT_TRUE(dispatcher.pin_status().ok()) << dispatcher.pin_status();
  constexpr int kRequests = 20;
  for (int i = 0; i < kRequests; ++i) {
    std::unique_ptr<Task> task = MakeTestTask(i, absl::Now(), absl::Seconds(30), nullptr);
    ASSERT_TRUE(dispatcher.Enqueue(&task).ok());
  }
  dispatcher.Drain();
  ASSERT_EQ(processor.cpus().size(), static_cast<size_t>(kRequests));
  for (int c : processor.cpus()) EXPECT_EQ(c, cpu);
  for (const std::string& name : processor.names()) EXPECT_EQ(name, "ts-worker-0");
}

}  // namespace
}  // namespace ternserve
