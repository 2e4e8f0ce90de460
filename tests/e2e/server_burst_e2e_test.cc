// SlackFit through the real server: on the shipped bundle, light traffic is served by the
// most accurate sub-net; a burst with a tight SLO moves batches to faster sub-nets; when the burst
// ends the server goes back to the accurate sub-net (once the burst's rate has decayed). No model
// reload happens in between.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/e2e/server_fixture.h"

namespace ternserve {
namespace {

class ServerBurstE2eTest : public ServerE2eTest {
 protected:
  void SetUp() override {
    bundle_ = TERNSERVE_SHIPPED_BUNDLE;
    // No --profile: the server profiles itself at start-up (short budget to keep the test quick).
    flags_ = {"--policy=slackfit", "--profile_budget_s=6", "--workers=1", "--max_batch=64"};
    max_batch_ = 64;
    ServerE2eTest::SetUp();
  }

  // Sends `count` requests one after another, each with `slo_ms`; returns the sub-net id of every
  // answer.
  std::vector<int> Sequential(int count, double slo_ms) {
    std::vector<int> subnets;
    for (int i = 0; i < count; ++i) {
      v1::ClassifyRequest request = ImageRequest(i % kE2eImages, 1);
      request.set_latency_slo_ms(slo_ms);
      absl::StatusOr<v1::ClassifyResponse> response = client_->Classify(request, absl::Seconds(10));
      EXPECT_TRUE(response.ok()) << response.status();
      if (response.ok()) subnets.push_back(response->subnet().id());
    }
    return subnets;
  }
};

double Share(const std::vector<int>& subnets, int id) {
  if (subnets.empty()) return 0;
  return static_cast<double>(std::count(subnets.begin(), subnets.end(), id)) / subnets.size();
}

TEST_F(ServerBurstE2eTest, SubnetMixShiftsUnderABurstAndBack) {
  absl::StatusOr<v1::ModelInfo> info = client_->GetModelInfo(absl::Seconds(10));
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_EQ(info->policy(), "slackfit");
  ASSERT_GT(info->latency_table_size(), 0);
  // The most accurate sub-net is what light load should get.
  int accurate = -1;
  double best = -1;
  for (const v1::SubnetInfo& s : info->subnets()) {
    if (s.test_accuracy() > best) best = s.test_accuracy(), accurate = s.id();
  }

  const std::vector<int> before = Sequential(30, 500);
  EXPECT_GE(Share(before, accurate), 0.9) << "light load before the burst";

  // The burst: 3,000 requests at once on one stream, each with a 15 ms SLO. The most accurate
  // sub-net cannot serve that backlog in time; faster ones can serve much of it.
  std::vector<v1::ClassifyRequest> burst;
  for (int i = 0; i < 3000; ++i) {
    burst.push_back(ImageRequest(i % kE2eImages, 1));
    burst.back().set_latency_slo_ms(15);
  }
  absl::StatusOr<std::vector<v1::ClassifyResponse>> answers =
      client_->ClassifyStream(burst, absl::Seconds(120));
  ASSERT_TRUE(answers.ok()) << answers.status();
  ASSERT_EQ(answers->size(), burst.size()) << "every accepted request is answered";
  std::vector<int> during;
  std::map<int, int> mix;
  int late = 0;
  for (const v1::ClassifyResponse& r : *answers) {
    if (r.status().code() != 0) {
      EXPECT_EQ(r.status().code(), 4) << r.status().message();  // DEADLINE_EXCEEDED: dropped
      ++late;
      continue;
    }
    during.push_back(r.subnet().id());
    ++mix[r.subnet().id()];
  }
  std::string mix_text;
  for (const auto& [id, n] : mix) absl::StrAppend(&mix_text, " ", id, ":", n);
  std::printf("burst: %zu served (sub-net:count%s), %d dropped as hopeless\n", during.size(),
              mix_text.c_str(), late);
  ASSERT_FALSE(during.empty());
  EXPECT_LE(Share(during, accurate), 0.5) << "the burst did not move to faster sub-nets";

  // SlackFit remembers the burst's arrival rate for a few of its 30 ms time constants
  // (QueueView::arrival_rate): the first light requests after it may still go to faster
  // sub-nets. Within 200 of them (at least 200 ms) it is back, and stays.
  int waited = 0;
  while (waited < 200 && Sequential(1, 500) != std::vector<int>{accurate}) ++waited;
  EXPECT_LT(waited, 200) << "never back to the accurate sub-net after the burst";
  const std::vector<int> after = Sequential(30, 500);
  EXPECT_GE(Share(after, accurate), 0.9)
      << "light load after the burst (back after " << waited << " requests)";
}

}  // namespace
}  // namespace ternserve
