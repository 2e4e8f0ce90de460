// Tests for server/status_json.cc: the document the status page reads, from known points.
#include "server/status_json.h"

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ternserve {
namespace {

using nlohmann::json;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

ServedModel Model() {
  auto metadata = std::make_shared<BundleMetadata>();
  metadata->model_name = "tiny";
  metadata->quantizer = "tga";
  for (const auto& [id, name, macs, accuracy] :
       {std::tuple{0, "d1.1.1-w8.16.32", 2364864, 0.8848},
        std::tuple{10, "d3.3.3-w32.64.128", 123860736, 0.9249}}) {
    SubnetMeta subnet;
    subnet.id = id;
    subnet.name = name;
    subnet.macs = macs;
    subnet.test_accuracy = accuracy;
    metadata->subnets.push_back(subnet);
  }
  return ServedModel{metadata, nullptr, "slackfit", /*generation=*/2};
}

StatusServerInfo Server() { return StatusServerInfo{"0.1.0", "ternary", "avx2", 1, 32, 100}; }

size_t Code(absl::StatusCode code) { return static_cast<size_t>(code); }

TEST(StatusJsonTest, DescribesTheServerAndTheModelServedNow) {
  const json doc = json::parse(StatusJson(Server(), Model(), {}, std::nullopt, kT0));
  EXPECT_EQ(doc["server"]["version"], "0.1.0");
  EXPECT_EQ(doc["server"]["engine"], "ternary");
  EXPECT_EQ(doc["server"]["isa"], "avx2");
  EXPECT_EQ(doc["server"]["max_batch"], 32);
  EXPECT_EQ(doc["model"]["name"], "tiny");
  EXPECT_EQ(doc["model"]["policy"], "slackfit");
  EXPECT_EQ(doc["model"]["generation"], 2);
  ASSERT_EQ(doc["model"]["subnets"].size(), 2u);
  EXPECT_EQ(doc["model"]["subnets"][1]["id"], 10);
  EXPECT_EQ(doc["model"]["subnets"][1]["name"], "d3.3.3-w32.64.128");
  EXPECT_EQ(doc["model"]["subnets"][1]["macs"], 123860736);
  EXPECT_DOUBLE_EQ(doc["model"]["subnets"][1]["test_accuracy"].get<double>(), 0.9249);
  // Before the first sample: no totals, empty series.
  EXPECT_TRUE(doc["totals"].is_null());
  EXPECT_TRUE(doc["series"]["time_unix_ms"].empty());
}

TEST(StatusJsonTest, SeriesAreColumnsWithNullWhereAnIntervalHadNothing) {
  std::vector<StatusPoint> points(2);
  points[0].time = kT0 + absl::Seconds(1);
  points[0].requests_per_s[Code(absl::StatusCode::kOk)] = 100;
  points[0].slo_attainment = 0.99;
  points[0].p50_seconds = 0.0012345;
  points[0].p99_seconds = 0.02;
  points[0].queue_depth = 3;
  points[0].subnet_requests_per_s = {{10, 100}};
  points[0].mean_batch_size = 1.5;
  points[0].mean_served_accuracy = 0.9249;
  points[1].time = kT0 + absl::Seconds(2);  // idle
  points[1].subnet_requests_per_s = {{10, 0}};

  const json series =
      json::parse(StatusJson(Server(), Model(), points, std::nullopt, kT0))["series"];
  EXPECT_EQ(series["time_unix_ms"], json({1700000001000, 1700000002000}));
  // Only OK has a column: no other code was answered in the window.
  EXPECT_EQ(series["requests_per_s"], json({{"OK", {100.0, 0.0}}}));
  EXPECT_EQ(series["slo_attainment"], json({0.99, nullptr}));
  EXPECT_EQ(series["p50_ms"], json({1.2345, nullptr}));
  EXPECT_EQ(series["p99_ms"], json({20.0, nullptr}));
  EXPECT_EQ(series["queue_depth"], json({3.0, 0.0}));
  // Every sub-net of the model has a column, with zeros where it ran nothing.
  EXPECT_EQ(series["subnet_requests_per_s"], json({{"0", {0.0, 0.0}}, {"10", {100.0, 0.0}}}));
  EXPECT_EQ(series["mean_batch_size"], json({1.5, nullptr}));
  EXPECT_EQ(series["mean_served_accuracy"], json({0.9249, nullptr}));
}

TEST(StatusJsonTest, OtherCodesAndOldSubnetsGetColumnsWhenTheyHappen) {
  std::vector<StatusPoint> points(1);
  points[0].time = kT0;
  points[0].requests_per_s[Code(absl::StatusCode::kDeadlineExceeded)] = 2.5;
  points[0].subnet_requests_per_s = {{7, 4}};  // a sub-net of the bundle served before a reload
  const json series =
      json::parse(StatusJson(Server(), Model(), points, std::nullopt, kT0))["series"];
  EXPECT_EQ(series["requests_per_s"]["DEADLINE_EXCEEDED"], json({2.5}));
  EXPECT_EQ(series["requests_per_s"]["OK"], json({0.0}));
  EXPECT_EQ(series["subnet_requests_per_s"]["7"], json({4.0}));
  EXPECT_EQ(series["subnet_requests_per_s"].size(), 3u);
}

TEST(StatusJsonTest, TotalsAreTheLastSnapshot) {
  MetricsSnapshot latest;
  latest.requests_by_code[Code(absl::StatusCode::kOk)] = 42;
  latest.requests_by_code[Code(absl::StatusCode::kUnauthenticated)] = 1;
  latest.slo_by_outcome[static_cast<size_t>(SloOutcome::kMet)] = 40;
  latest.subnet_requests = {{0, 12}, {10, 30}};
  latest.request_seconds.count = 42;
  latest.request_seconds.sum = 0.5;
  latest.batch_size.count = 9;
  latest.queue_depth = 2;
  const json totals = json::parse(
      StatusJson(Server(), Model(), {}, latest, kT0 + absl::Milliseconds(1500)))["totals"];
  EXPECT_EQ(totals["time_unix_ms"], 1700000001500);
  EXPECT_EQ(totals["requests_by_code"], json({{"OK", 42.0}, {"UNAUTHENTICATED", 1.0}}));
  EXPECT_EQ(totals["slo"],
            json({{"met", 40.0}, {"missed", 0.0}, {"dropped", 0.0}, {"cancelled", 0.0}}));
  EXPECT_EQ(totals["subnet_requests"], json({{"0", 12.0}, {"10", 30.0}}));
  EXPECT_EQ(totals["request_duration_count"], 42.0);
  EXPECT_EQ(totals["batches"], 9.0);
  EXPECT_EQ(totals["queue_depth"], 2.0);
}

}  // namespace
}  // namespace ternserve
