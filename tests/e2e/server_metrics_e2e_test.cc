// End-to-end metrics tests: the real ternserve serves /metrics; after known traffic the scrape
// holds exactly the expected counts, `promtool check metrics` accepts it, every expression of
// the Grafana dashboard (deploy/grafana/ternserve.json) names only metrics the server exports, and
// the status page's JSON on the same port agrees with the scrape.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/server_fixture.h"
#include "tests/testing/http_get.h"

namespace ternserve {
namespace {

using ::ternserve::testing::HttpGet;
using ::ternserve::testing::RunToCompletion;
using ::testing::HasSubstr;

// Families named in "# TYPE <name> <type>" lines.
std::set<std::string> Families(const std::string& scrape) {
  std::set<std::string> families;
  std::istringstream lines(scrape);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string hash, type, name;
    if (words >> hash >> type >> name && hash == "#" && type == "TYPE") families.insert(name);
  }
  return families;
}

// The value of `series`; fails the test (and returns -1) if the scrape lacks it.
double Value(const std::map<std::string, double>& samples, const std::string& series) {
  const auto it = samples.find(series);
  EXPECT_NE(it, samples.end()) << "no sample " << series;
  return it == samples.end() ? -1 : it->second;
}

// Sum of every sample whose series starts with `prefix`.
double Sum(const std::map<std::string, double>& samples, const std::string& prefix) {
  double sum = 0;
  for (const auto& [series, value] : samples) {
    if (absl::StartsWith(series, prefix)) sum += value;
  }
  return sum;
}

// Runs `promtool check metrics` on `scrape`; its exit code, or -1 if promtool is not installed.
int PromtoolCheck(const std::string& scrape) {
  if (access("/usr/bin/promtool", X_OK) != 0) return -1;
  FILE* promtool = popen("/usr/bin/promtool check metrics", "w");
  if (promtool == nullptr) return -1;
  fwrite(scrape.data(), 1, scrape.size(), promtool);
  const int status = pclose(promtool);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Every panel of the dashboard uses the datasource variable, and every metric its expressions
// name (histogram series reduced to their family) is one `families` has.
void ExpectDashboardUsesOnly(const std::set<std::string>& families) {
  std::ifstream in(TERNSERVE_DASHBOARD_JSON);
  ASSERT_TRUE(in) << "cannot open " << TERNSERVE_DASHBOARD_JSON;
  const nlohmann::json dashboard = nlohmann::json::parse(in);
  bool has_datasource_variable = false;
  for (const nlohmann::json& variable : dashboard.at("templating").at("list")) {
    if (variable.value("type", "") == "datasource" && variable.value("name", "") == "datasource" &&
        variable.value("query", "") == "prometheus") {
      has_datasource_variable = true;
    }
  }
  EXPECT_TRUE(has_datasource_variable) << "no Prometheus datasource variable named datasource";

  const std::regex metric_name("ternserve_[a-z_]+");
  const std::regex histogram_suffix("_(bucket|sum|count)$");
  std::set<std::string> used;
  int expressions = 0;
  ASSERT_FALSE(dashboard.at("panels").empty());
  for (const nlohmann::json& panel : dashboard.at("panels")) {
    const std::string title = panel.value("title", "?");
    EXPECT_EQ(panel.at("datasource").value("uid", ""), "${datasource}") << title;
    ASSERT_FALSE(panel.at("targets").empty()) << title;
    for (const nlohmann::json& target : panel.at("targets")) {
      EXPECT_EQ(target.at("datasource").value("uid", ""), "${datasource}") << title;
      const std::string expr = target.at("expr").get<std::string>();
      ++expressions;
      for (auto it = std::sregex_iterator(expr.begin(), expr.end(), metric_name);
           it != std::sregex_iterator(); ++it) {
        const std::string family = std::regex_replace(it->str(), histogram_suffix, "");
        used.insert(family);
        EXPECT_EQ(families.count(family), 1u)
            << title << ": " << expr << " uses " << family << ", which the server does not export";
      }
    }
  }
  EXPECT_GE(expressions, 10);
  // The panels the issue asks for are all there.
  for (const char* family :
       {"ternserve_requests_total", "ternserve_slo_total", "ternserve_request_duration_seconds",
        "ternserve_queue_depth", "ternserve_subnet_requests_total", "ternserve_batch_size",
        "ternserve_served_accuracy", "ternserve_compute_duration_seconds",
        "ternserve_latency_model_ratio"}) {
    EXPECT_EQ(used.count(family), 1u) << "no panel uses " << family;
  }
}

using ServerMetricsE2eTest = ServerE2eTest;

TEST_F(ServerMetricsE2eTest, ScrapeAfterKnownTrafficHasExactCountsAndPassesPromtool) {
  ASSERT_GT(metrics_port_, 0) << "the port file has no metrics port";
  // 20 good unary calls, 3 invalid ones, 5 good messages on one stream.
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<v1::ClassifyResponse> response =
        client_->Classify(ImageRequest(i), absl::Seconds(30));
    ASSERT_TRUE(response.ok()) << response.status();
  }
  v1::ClassifyRequest bad_top_k = ImageRequest(0, /*top_k=*/11);
  v1::ClassifyRequest bad_pixel = ImageRequest(1);
  bad_pixel.mutable_pixels()->set_values(5, 2.0f);
  v1::ClassifyRequest bad_slo = ImageRequest(2);
  bad_slo.set_latency_slo_ms(-1);
  for (const v1::ClassifyRequest& bad : {bad_top_k, bad_pixel, bad_slo}) {
    EXPECT_EQ(client_->Classify(bad, absl::Seconds(30)).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  std::vector<v1::ClassifyRequest> streamed;
  for (int i = 0; i < 5; ++i) streamed.push_back(ImageRequest(20 + i));
  absl::StatusOr<std::vector<v1::ClassifyResponse>> responses =
      client_->ClassifyStream(streamed, absl::Seconds(30));
  ASSERT_TRUE(responses.ok()) << responses.status();
  ASSERT_EQ(responses->size(), 5u);
  for (const v1::ClassifyResponse& r : *responses) EXPECT_EQ(r.status().code(), 0);

  // Every answer above was counted before it was sent, so the scrape is final.
  absl::StatusOr<std::string> scrape = HttpGet("127.0.0.1", metrics_port_, "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  const std::map<std::string, double> s = ParseScrape(*scrape);
  const Reference& ref = GetReference();
  const std::string subnet = absl::StrCat("{subnet=\"", ref.subnet_id, "\"}");

  EXPECT_EQ(Value(s, R"(ternserve_requests_total{code="OK"})"), 25);
  EXPECT_EQ(Value(s, R"(ternserve_requests_total{code="INVALID_ARGUMENT"})"), 3);
  EXPECT_EQ(Sum(s, "ternserve_requests_total{"), 28);
  EXPECT_EQ(Value(s, "ternserve_requests_received_total"), 28);
  EXPECT_EQ(Value(s, R"(ternserve_slo_total{outcome="met"})") +
                Value(s, R"(ternserve_slo_total{outcome="missed"})") +
                Value(s, R"(ternserve_slo_total{outcome="dropped"})"),
            25);
  EXPECT_EQ(Value(s, R"(ternserve_slo_total{outcome="dropped"})"), 0);
  // --policy=fixed: every request runs on the largest sub-net.
  EXPECT_EQ(Sum(s, "ternserve_subnet_requests_total{"), 25);
  EXPECT_EQ(Value(s, "ternserve_subnet_requests_total" + subnet), 25);
  EXPECT_EQ(Value(s, "ternserve_request_duration_seconds_count"), 25);
  EXPECT_EQ(Value(s, R"(ternserve_request_duration_seconds_bucket{le="+Inf"})"), 25);
  EXPECT_GT(Value(s, "ternserve_request_duration_seconds_sum"), 0);
  EXPECT_EQ(Value(s, "ternserve_queue_duration_seconds_count"), 25);
  EXPECT_EQ(Value(s, "ternserve_batch_size_sum"), 25);
  const double batches = Value(s, "ternserve_batch_size_count");
  EXPECT_GE(batches, 1);
  EXPECT_LE(batches, 25);
  EXPECT_EQ(Value(s, "ternserve_compute_duration_seconds_count" + subnet), batches);
  EXPECT_EQ(Value(s, "ternserve_served_accuracy_count"), 25);
  EXPECT_NEAR(Value(s, "ternserve_served_accuracy_sum"),
              25 * ref.bundle->FindSubnet(ref.subnet_id)->test_accuracy, 1e-9);
  EXPECT_EQ(Value(s, "ternserve_queue_depth"), 0);

  // build_info: one series, value 1, labels naming what runs (prometheus-cpp sorts labels).
  int build_info_series = 0;
  for (const auto& [series, value] : s) {
    if (!absl::StartsWith(series, "ternserve_build_info{")) continue;
    ++build_info_series;
    EXPECT_EQ(value, 1);
    EXPECT_THAT(series, HasSubstr(R"(engine="ternary")"));
    EXPECT_THAT(series, HasSubstr(absl::StrCat(R"(policy="fixed:)", ref.subnet_id, R"(")")));
    EXPECT_THAT(series, HasSubstr(R"(version="0.1.0")"));
    EXPECT_TRUE(std::regex_search(series, std::regex(R"re(isa="(scalar|avx2|avx512vnni)")re")))
        << series;
  }
  EXPECT_EQ(build_info_series, 1);

  ExpectDashboardUsesOnly(Families(*scrape));

  const int promtool = PromtoolCheck(*scrape);
  if (promtool == -1) {
    GTEST_SKIP() << "promtool not installed (Debian package prometheus); skipped its check";
  }
  EXPECT_EQ(promtool, 0) << "promtool check metrics rejected the scrape:\n" << *scrape;
}

// The metrics port serves /metrics, the status page and its JSON, and nothing else; the JSON's
// totals are the scrape's counts (both read the same metric objects).
TEST_F(ServerMetricsE2eTest, ServesMetricsAndTheStatusPageOnly) {
  ASSERT_GT(metrics_port_, 0);
  absl::StatusOr<std::string> other = HttpGet("127.0.0.1", metrics_port_, "/nope");
  EXPECT_THAT(other.status().message(), HasSubstr("HTTP 404"));
  absl::StatusOr<std::string> page = HttpGet("127.0.0.1", metrics_port_, "/");
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_THAT(*page, HasSubstr("<title>Ternserve status</title>"));

  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(client_->Classify(ImageRequest(i), absl::Seconds(30)).ok());
  }
  const Reference& ref = GetReference();
  const std::string subnet = std::to_string(ref.subnet_id);
  // The page samples once a second: poll until a sample holds the 7 answers.
  nlohmann::json status;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> body = HttpGet("127.0.0.1", metrics_port_, "/status.json");
    ASSERT_TRUE(body.ok()) << body.status();
    status = nlohmann::json::parse(*body);
    if (status["totals"].is_object() &&
        status["totals"]["requests_by_code"].value("OK", 0.0) >= 7) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(status["totals"].is_object()) << status.dump();
  absl::StatusOr<std::string> scrape = HttpGet("127.0.0.1", metrics_port_, "/metrics");
  ASSERT_TRUE(scrape.ok()) << scrape.status();
  const std::map<std::string, double> s = ParseScrape(*scrape);
  EXPECT_EQ(status["totals"]["requests_by_code"].value("OK", -1.0),
            Value(s, "ternserve_requests_total{code=\"OK\"}"));
  EXPECT_EQ(status["totals"]["slo"].value("met", -1.0),
            Value(s, "ternserve_slo_total{outcome=\"met\"}"));
  EXPECT_EQ(status["totals"]["subnet_requests"].value(subnet, -1.0),
            Value(s, absl::StrCat("ternserve_subnet_requests_total{subnet=\"", subnet, "\"}")));
  EXPECT_EQ(status["totals"]["request_duration_count"].get<double>(),
            Value(s, "ternserve_request_duration_seconds_count"));
  EXPECT_TRUE(absl::StartsWith(status["model"].value("policy", ""), "fixed")) << status["model"];
  EXPECT_FALSE(status["model"]["subnets"].empty());
}

// A metrics port already in use fails start-up with exit 1 and says which port.
TEST_F(ServerMetricsE2eTest, MetricsPortInUseIsAStartupError) {
  ASSERT_GT(metrics_port_, 0);
  const std::string out = dir_ + "/second.out";
  auto second =
      RunToCompletion({TERNSERVE_SERVER_BIN, absl::StrCat("--bundle=", TERNSERVE_E2E_BUNDLE),
                       "--port=0", absl::StrCat("--metrics_port=", metrics_port_),
                       std::string("--profile=") + TERNSERVE_E2E_PROFILE},
                      out);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->first, 1);
  EXPECT_THAT(second->second,
              HasSubstr(absl::StrCat("cannot serve metrics on 127.0.0.1:", metrics_port_)));
}

class ServerMetricsOffE2eTest : public ServerE2eTest {
 protected:
  ServerMetricsOffE2eTest() { flags_.push_back("--metrics_port=-1"); }
};

TEST_F(ServerMetricsOffE2eTest, NoMetricsPortAndStillServes) {
  EXPECT_EQ(metrics_port_, -1);
  EXPECT_EQ(ReadSmallFile(port_file_), absl::StrCat(port_, "\n"));
  EXPECT_TRUE(client_->Classify(ImageRequest(0), absl::Seconds(30)).ok());
}

}  // namespace
}  // namespace ternserve
