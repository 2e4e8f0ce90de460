// Tests of client/loadgen_stats.cc: percentiles, the run summary on hand-made records, its JSON,
// and the running histogram.
#include "client/loadgen_stats.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/loadgen_report_fields.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

TEST(PercentileTest, NearestRank) {
  std::vector<double> empty;
  EXPECT_EQ(Percentile(&empty, 0.5), 0);
  std::vector<double> values = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
  EXPECT_EQ(Percentile(&values, 0.0), 1);
  EXPECT_EQ(Percentile(&values, 0.5), 5);
  EXPECT_EQ(Percentile(&values, 0.9), 9);
  EXPECT_EQ(Percentile(&values, 0.91), 10);
  EXPECT_EQ(Percentile(&values, 1.0), 10);
  std::vector<double> one = {3.5};
  EXPECT_EQ(Percentile(&one, 0.99), 3.5);
}

RequestRecord Ok(int64_t sent_ms, int64_t latency_us, float slo_ms, int subnet, bool correct) {
  RequestRecord r;
  r.sent_ns = sent_ms * 1000000;
  r.done_ns = r.sent_ns + latency_us * 1000;
  r.slo_ms = slo_ms;
  r.code = 0;
  r.subnet_id = static_cast<int16_t>(subnet);
  r.correct = correct;
  r.expected_accuracy = subnet == 1 ? 0.8f : 0.9f;
  r.queue_us = 100 * subnet;
  r.compute_us = 200 * subnet;
  r.deadline_met = latency_us <= slo_ms * 1000;
  return r;
}

TEST(SummarizeTest, CountsAttainmentAccuracyAndMix) {
  std::vector<RequestRecord> records = {
      Ok(0, 1000, 5, 1, true),    // met
      Ok(10, 2000, 5, 2, false),  // met
      Ok(20, 10000, 5, 2, true),  // ok but late
      Ok(30, 5000, 5, 2, true),   // exactly on the SLO: met
  };
  RequestRecord unavailable;
  unavailable.sent_ns = 40'000'000;
  unavailable.done_ns = 41'000'000;
  unavailable.code = 14;
  unavailable.slo_ms = 5;
  records.push_back(unavailable);
  RequestRecord lost;  // never answered
  lost.sent_ns = 50'000'000;
  lost.slo_ms = 5;
  records.push_back(lost);

  RunInfo info;
  info.trace = "poisson:rate=100,duration=0.06";
  info.connections = 2;
  info.planned = 6;
  info.trace_duration_s = 0.06;
  info.max_send_lag_ms = 0.25;
  const LoadgenReport report = Summarize(records, info);

  EXPECT_EQ(report.sent, 6);
  EXPECT_EQ(report.ok, 4);
  EXPECT_EQ(report.errors_by_code,
            (std::map<std::string, int64_t>{{"UNAVAILABLE", 1}, {"NO_RESPONSE", 1}}));
  EXPECT_DOUBLE_EQ(report.slo_attainment, 3.0 / 6.0);  // over sent, not over ok
  EXPECT_DOUBLE_EQ(report.measured_accuracy, 3.0 / 4.0);
  EXPECT_NEAR(report.expected_accuracy, (0.8 + 3 * 0.9) / 4, 1e-6);
  EXPECT_DOUBLE_EQ(report.p50_ms, 2);
  EXPECT_DOUBLE_EQ(report.p90_ms, 10);
  EXPECT_DOUBLE_EQ(report.p99_ms, 10);
  EXPECT_EQ(report.subnet_mix, (std::map<int, double>{{1, 0.25}, {2, 0.75}}));
  EXPECT_DOUBLE_EQ(report.server_queue_p50_ms, 0.2);
  EXPECT_DOUBLE_EQ(report.server_compute_p50_ms, 0.4);
  EXPECT_DOUBLE_EQ(report.server_deadline_met, 3.0 / 4.0);
  // Latency minus queue minus compute: 0.7, 1.4, 9.4 and 4.4 ms.
  EXPECT_NEAR(report.outside_p50_ms, 1.4, 1e-9);
  EXPECT_NEAR(report.outside_p99_ms, 9.4, 1e-9);
  // First send 0, last completion 41 ms (the UNAVAILABLE answer).
  EXPECT_DOUBLE_EQ(report.duration_s, 0.041);
  EXPECT_DOUBLE_EQ(report.throughput_rps, 4 / 0.041);
  EXPECT_DOUBLE_EQ(report.offered_rps, 100);
}

TEST(SummarizeTest, CountsTheClientsOwnDeadlineExceededApart) {
  RequestRecord from_server = Ok(0, 1500, 5, 1, true);
  from_server.code = 4;
  RequestRecord from_client = from_server;
  from_client.expired_in_client = true;
  const LoadgenReport report = Summarize({from_server, from_client, from_client}, RunInfo());
  EXPECT_EQ(report.errors_by_code, (std::map<std::string, int64_t>{{"DEADLINE_EXCEEDED", 3}}));
  EXPECT_EQ(report.expired_in_client, 2);
  EXPECT_EQ(ReportToJson(report)["expired_in_client"], 2);
  EXPECT_THAT(ReportToText(report), HasSubstr("2 DEADLINE_EXCEEDED from the client"));
}

TEST(SummarizeTest, CountsEachReplicasAnswers) {
  std::vector<RequestRecord> records;
  for (int i = 0; i < 5; ++i) {
    RequestRecord r = Ok(i, 1500, 5, 1, true);
    r.backend = static_cast<uint8_t>(1 + i % 2);  // 1, 2, 1, 2, 1
    records.push_back(r);
  }
  records[3].code = 14;   // a failure on replica 2 is its answer too
  RequestRecord nowhere;  // reached no replica
  nowhere.code = 14;
  records.push_back(nowhere);
  RunInfo info;
  info.server = "127.0.0.1:9001,127.0.0.1:9002";
  info.max_attempts = 3;
  info.backends = {"ipv4:127.0.0.1:9001", "ipv4:127.0.0.1:9002"};
  info.start_unix_ms = 1'700'000'000'000;
  const LoadgenReport report = Summarize(records, info);
  ASSERT_EQ(report.backends.size(), 2u);
  EXPECT_EQ(report.backends[0].address, "ipv4:127.0.0.1:9001");
  EXPECT_EQ(report.backends[0].answered, 3);
  EXPECT_EQ(report.backends[0].ok, 3);
  EXPECT_EQ(report.backends[1].answered, 2);
  EXPECT_EQ(report.backends[1].ok, 1);
  const nlohmann::ordered_json json = ReportToJson(report);
  EXPECT_EQ(json["backends"][1]["address"], "ipv4:127.0.0.1:9002");
  EXPECT_EQ(json["backends"][1]["answered"], 2);
  EXPECT_EQ(json["max_attempts"], 3);
  EXPECT_EQ(json["start_unix_ms"], 1'700'000'000'000);
  const std::string text = ReportToText(report);
  EXPECT_THAT(text, HasSubstr("server 127.0.0.1:9001,127.0.0.1:9002, up to 3 attempts a call"));
  EXPECT_THAT(text, HasSubstr("ipv4:127.0.0.1:9001 60.0% (3, ok 3)"));
  EXPECT_THAT(text, HasSubstr("ipv4:127.0.0.1:9002 40.0% (2, ok 1)"));
}

TEST(SummarizeTest, EmptyRunIsAllZero) {
  const LoadgenReport report = Summarize({}, RunInfo());
  EXPECT_EQ(report.sent, 0);
  EXPECT_EQ(report.ok, 0);
  EXPECT_EQ(report.slo_attainment, 0);
  EXPECT_EQ(report.throughput_rps, 0);
  EXPECT_TRUE(report.errors_by_code.empty());
}

TEST(WriteRecordsCsvTest, OneLinePerSentRequestWithItsCode) {
  RequestRecord ok = Ok(/*sent_ms=*/2, /*latency_us=*/1500, /*slo_ms=*/25, 0, true);
  ok.arrival_ns = 2'000'000;
  ok.deadline_met = true;
  ok.backend = 2;
  RequestRecord lost;  // sent, never answered
  lost.arrival_ns = 3'000'000;
  lost.sent_ns = 3'000'000;
  lost.slo_ms = 25;
  RequestRecord unsent;  // planned, never sent
  unsent.arrival_ns = 4'000'000;
  RequestRecord expired = lost;  // its SLO ran out in the client's queue
  expired.arrival_ns = expired.sent_ns = 5'000'000;
  expired.done_ns = 30'000'000;
  expired.code = 4;
  expired.expired_in_client = true;
  expired.backend = 1;
  const std::vector<RequestRecord> records = {ok, lost, unsent, expired};
  const std::vector<std::string> backends = {"ipv4:127.0.0.1:9001", "ipv4:127.0.0.1:9002"};
  const std::string path = ::testing::TempDir() + "/records_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".csv";
  ASSERT_TRUE(WriteRecordsCsv(records, backends, path).ok());
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text,
            "arrival_ms,sent_ms,done_ms,slo_ms,code,deadline_met,expired_in_client,backend\n"
            "2.000,2.000,3.500,25,0,1,0,ipv4:127.0.0.1:9002\n"
            "3.000,3.000,0.000,25,-1,0,0,\n"
            "5.000,5.000,30.000,25,4,0,1,ipv4:127.0.0.1:9001\n");
  const absl::Status unwritable =
      WriteRecordsCsv(records, backends, "/nonexistent-dir/records.csv");
  EXPECT_EQ(unwritable.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unwritable.message()),
              ::testing::HasSubstr("/nonexistent-dir/records.csv"));
}

TEST(SummarizeTest, CountsEachFloorsAnswersRefusalsAndViolations) {
  // Floor 1 (0.85): an answer at 0.9, one at 0.8 (a violation), one refused OUT_OF_RANGE, one
  // DEADLINE_EXCEEDED. Floor 2 (0.9): an answer at exactly 0.9, which meets it. One with none.
  std::vector<RequestRecord> records = {Ok(0, 1000, 5, 2, true), Ok(1, 1000, 5, 1, true),
                                        Ok(2, 1000, 5, 2, true), Ok(3, 9000, 5, 2, true)};
  records[0].floor = 1;
  records[1].floor = 1;
  records[2].floor = 2;
  RequestRecord out_of_range = Ok(4, 100, 5, 2, true);
  out_of_range.code = 11;
  out_of_range.floor = 1;
  RequestRecord too_slow = Ok(5, 100, 5, 2, true);
  too_slow.code = 4;
  too_slow.floor = 1;
  records.push_back(out_of_range);
  records.push_back(too_slow);
  RunInfo info;
  info.floors = {0.85, 0.9};
  const LoadgenReport report = Summarize(records, info);
  ASSERT_EQ(report.floors.size(), 2u);
  const FloorShare& f1 = report.floors[0];
  EXPECT_EQ(f1.sent, 4);
  EXPECT_EQ(f1.ok, 2);
  EXPECT_EQ(f1.met_slo, 2);
  EXPECT_EQ(f1.out_of_range, 1);
  EXPECT_EQ(f1.deadline_exceeded, 1);
  EXPECT_EQ(f1.violations, 1);
  EXPECT_NEAR(f1.min_served_accuracy, 0.8, 1e-6);
  const FloorShare& f2 = report.floors[1];
  EXPECT_EQ(f2.sent, 1);
  EXPECT_EQ(f2.violations, 0);  // 0.9f against the floor 0.9 rounded the same way
  EXPECT_EQ(report.floor_violations, 1);
  const nlohmann::ordered_json json = ReportToJson(report);
  EXPECT_EQ(json["floors"][0]["out_of_range"], 1);
  EXPECT_EQ(json["floor_violations"], 1);
  EXPECT_THAT(ReportToText(report), HasSubstr("floor 0.8500: sent 4  ok 2"));
}

TEST(ReportToJsonTest, HasEveryField) {
  std::vector<RequestRecord> records = {Ok(0, 1500, 5, 3, true)};
  RunInfo info;
  info.trace = "poisson:rate=1,duration=1";
  info.connections = 4;
  const nlohmann::ordered_json json = ReportToJson(Summarize(records, info));
  for (const char* field : kLoadgenReportFields) {
    EXPECT_TRUE(json.contains(field)) << field;
  }
  EXPECT_TRUE(json["errors_by_code"].is_object());
  EXPECT_EQ(json["subnet_mix"]["3"], 1.0);
  EXPECT_EQ(json["trace"], "poisson:rate=1,duration=1");
  EXPECT_DOUBLE_EQ(json["p50_ms"].get<double>(), 1.5);
  const std::string text = ReportToText(Summarize(records, info));
  EXPECT_THAT(text, HasSubstr("sent 1  ok 1  errors 0"));
  EXPECT_THAT(text, HasSubstr("3: 100.0%"));
}

TEST(ReportToJsonTest, SaysWhichApiWasDriven) {
  const std::vector<RequestRecord> records = {Ok(0, 1500, 5, 3, true)};
  RunInfo info;
  info.api = "oip";
  const LoadgenReport report = Summarize(records, info);
  EXPECT_EQ(ReportToJson(report)["api"], "oip");
  EXPECT_THAT(ReportToText(report), HasSubstr("(unary), oip API"));
  EXPECT_EQ(ReportToJson(Summarize(records, RunInfo()))["api"], "ternserve");
}

TEST(LatencyHistogramTest, BucketsAreContiguousAndNarrow) {
  for (uint64_t us = 0; us < 1000000; us += (us < 100 ? 1 : 37)) {
    const int b = LatencyHistogram::BucketOf(us);
    ASSERT_LE(LatencyHistogram::BucketLowerUs(b), us) << us;
    ASSERT_GT(LatencyHistogram::BucketLowerUs(b + 1), us) << us;
    if (us >= 16) {
      ASSERT_LE(static_cast<double>(LatencyHistogram::BucketLowerUs(b + 1)) / us, 1.0625 + 1e-9)
          << us;
    }
  }
}

TEST(LatencyHistogramTest, QuantilesWithinABucket) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.QuantileMs(0.99), 0);
  for (int i = 1; i <= 1000; ++i) histogram.Record(int64_t{i} * 10000);  // 0.01 .. 10 ms
  EXPECT_NEAR(histogram.QuantileMs(0.5), 5.0, 5.0 * 0.07);
  EXPECT_NEAR(histogram.QuantileMs(0.99), 9.9, 9.9 * 0.07);
  EXPECT_GE(histogram.QuantileMs(0.99), 9.9);  // an upper bound
}

}  // namespace
}  // namespace ternserve
