// Rolling a new model in place: the real ternserve, under a steady load of unary Classify calls,
// gets SIGHUP after its --bundle file was replaced. No request may fail; every request sent after
// the swap is answered by the new bundle's sub-net; and a corrupt bundle put there next is refused
// while the new one goes on serving.
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "models/bundle.h"
#include "tests/e2e/server_fixture.h"

namespace ternserve {
namespace {

// What one call of the load came to.
struct Answer {
  absl::Time sent;
  absl::Status status;
  int subnet_id = -1;
  std::string subnet_name;
  double expected_accuracy = -1;
};

// The steady load: one client thread calling Classify back to back until stopped.
class SteadyLoad {
 public:
  explicit SteadyLoad(const ClassifierClient* client) : thread_([this, client] { Run(client); }) {}
  ~SteadyLoad() { Stop(); }

  // Blocks until `n` calls have been answered.
  void WaitForAnswers(size_t n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return answers_.size() >= n; };
    mu_.Await(absl::Condition(&reached));
  }
  size_t answered() {
    absl::MutexLock lock(&mu_);
    return answers_.size();
  }
  // Stops after the call in flight, and returns every answer.
  std::vector<Answer> Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
    absl::MutexLock lock(&mu_);
    return answers_;
  }

 private:
  void Run(const ClassifierClient* client) {
    for (int i = 0;; ++i) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
      }
      v1::ClassifyRequest request = ImageRequest(i % kE2eImages);
      // Far more than a reload's profiling can delay it on a busy machine: a failure here is a
      // request the reload lost, not a slow one.
      request.set_latency_slo_ms(20000);
      Answer answer;
      answer.sent = absl::Now();
      absl::StatusOr<v1::ClassifyResponse> response = client->Classify(request, absl::Seconds(30));
      answer.status = response.status();
      if (response.ok()) {
        answer.subnet_id = response->subnet().id();
        answer.subnet_name = response->subnet().name();
        answer.expected_accuracy = response->subnet().expected_accuracy();
      }
      absl::MutexLock lock(&mu_);
      answers_.push_back(std::move(answer));
    }
  }

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<Answer> answers_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: it starts once the rest is constructed
};

class ServerReloadE2eTest : public ServerE2eTest {
 protected:
  void SetUp() override {
    model_dir_ = MakeTempDir();
    bundle_ = model_dir_ + "/model.tsn";
    ReplaceBundle(ReadSmallFile(TERNSERVE_E2E_BUNDLE));
    // No --profile: the server measures a profile for each bundle it loads (briefly here), as a
    // reload without --profile does while the old bundle serves.
    flags_ = {"--policy=fixed", "--profile_budget_s=1", "--workers=1"};
    ServerE2eTest::SetUp();
  }

  // Puts `contents` at --bundle as an operator should: written beside it, then renamed over it.
  void ReplaceBundle(const std::string& contents) {
    const std::string tmp = bundle_ + ".new";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << contents;
      ASSERT_TRUE(out.good()) << "cannot write " << tmp;
    }
    ASSERT_EQ(std::rename(tmp.c_str(), bundle_.c_str()), 0) << "cannot rename " << tmp;
  }

  std::string model_dir_;
};

// The largest sub-net's (id, name, test accuracy): what --policy=fixed answers with.
struct Largest {
  int id;
  std::string name;
  double accuracy;
};
Largest LargestOf(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(path);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  if (!bundle.ok()) return {-1, "", -1};
  const SubnetMeta& largest = (*bundle)->LargestSubnet();
  return {largest.id, largest.name, largest.test_accuracy};
}

bool AnsweredBy(const Answer& answer, const Largest& subnet) {
  return answer.subnet_id == subnet.id && answer.subnet_name == subnet.name &&
         std::abs(answer.expected_accuracy - subnet.accuracy) < 1e-9;
}

TEST_F(ServerReloadE2eTest, SighupSwapsInTheNewBundleUnderLoadAndRefusesABadOne) {
  const Largest old_subnet = LargestOf(TERNSERVE_E2E_BUNDLE);
  const Largest new_subnet = LargestOf(TERNSERVE_SHIPPED_BUNDLE);
  // The test can tell the two apart only if their largest sub-nets differ.
  ASSERT_NE(old_subnet.accuracy, new_subnet.accuracy);

  SteadyLoad load(client_.get());
  load.WaitForAnswers(50);
  ASSERT_EQ(Metric("ternserve_model_generation"), 1);

  // Roll the shipped bundle in.
  ReplaceBundle(ReadSmallFile(TERNSERVE_SHIPPED_BUNDLE));
  const absl::Time hup = absl::Now();
  server_.Signal(SIGHUP);
  // The reload profiles the new bundle: 1.8 s here, 41 s under ASan, which CI also runs.
  ASSERT_TRUE(WaitForMetric("ternserve_model_generation", 2, absl::Seconds(240)).ok());
  // Every call sent from here on is decided after the swap.
  const absl::Time swapped = absl::Now();
  load.WaitForAnswers(load.answered() + 50);
  absl::StatusOr<v1::ModelInfo> info = client_->GetModelInfo(absl::Seconds(10));
  ASSERT_TRUE(info.ok()) << info.status();
  absl::StatusOr<std::unique_ptr<Bundle>> shipped_bundle = Bundle::Open(TERNSERVE_SHIPPED_BUNDLE);
  ASSERT_TRUE(shipped_bundle.ok());
  EXPECT_EQ(info->subnets_size(), static_cast<int>((*shipped_bundle)->metadata().subnets.size()));
  EXPECT_EQ(info->policy(), absl::StrCat("fixed:", new_subnet.id));

  // A corrupt bundle is refused; the shipped one goes on.
  ReplaceBundle("this is not a bundle");
  server_.Signal(SIGHUP);
  ASSERT_TRUE(
      WaitForMetric("ternserve_model_reloads_total{result=\"refused\"}", 1, absl::Seconds(60))
          .ok());
  load.WaitForAnswers(load.answered() + 50);
  const std::vector<Answer> answers = load.Stop();
  EXPECT_EQ(Metric("ternserve_model_generation"), 2);
  EXPECT_EQ(Metric("ternserve_model_reloads_total{result=\"ok\"}"), 1);

  int failed = 0, before = 0, after = 0;
  for (const Answer& answer : answers) {
    if (!answer.status.ok()) {
      if (failed++ == 0) ADD_FAILURE() << "a call failed: " << answer.status;
      continue;
    }
    if (answer.sent < hup) {
      ++before;
      EXPECT_TRUE(AnsweredBy(answer, old_subnet)) << "before the reload, answered by sub-net "
                                                  << answer.subnet_id << " " << answer.subnet_name;
    } else if (answer.sent >= swapped) {
      ++after;
      EXPECT_TRUE(AnsweredBy(answer, new_subnet))
          << "after the swap, answered by sub-net " << answer.subnet_id << " " << answer.subnet_name
          << " (accuracy " << answer.expected_accuracy << ")";
    } else {
      // Sent while the server loaded the new bundle: either bundle may answer it.
      EXPECT_TRUE(AnsweredBy(answer, old_subnet) || AnsweredBy(answer, new_subnet));
    }
  }
  EXPECT_EQ(failed, 0) << "of " << answers.size() << " calls";
  EXPECT_GE(before, 50);
  EXPECT_GE(after, 100);  // 50 after the swap, 50 more after the refused reload
}

}  // namespace
}  // namespace ternserve
