// Tests for scheduler/latency_profile.cc: round trip, interpolation, and that every malformed
// field is refused with the file and the field named.
#include "scheduler/latency_profile.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/scheduler/test_profile.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/", name);
}

TEST(LatencyProfileTest, SaveThenLoadRoundTrips) {
  LatencyProfile profile = LadderProfile(3);
  profile.bundle_name = "ternserve.tsn";
  profile.bundle_checksum = "abc123";
  profile.isa = "avx2";
  profile.workers = 2;
  profile.threads = 1;
  const std::string path = TempPath("round_trip.json");
  ASSERT_TRUE(SaveLatencyProfile(profile, path).ok());
  absl::StatusOr<LatencyProfile> loaded = LoadLatencyProfile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(LatencyProfileToJson(*loaded), LatencyProfileToJson(profile));
  EXPECT_EQ(loaded->bundle_checksum, "abc123");
  EXPECT_EQ(loaded->workers, 2);
  ASSERT_EQ(loaded->subnets.size(), 3u);
  EXPECT_EQ(loaded->subnets[2].batches.size(), 7u);
  EXPECT_DOUBLE_EQ(loaded->subnets[1].batches[3].p99_us, profile.subnets[1].batches[3].p99_us);
}

TEST(LatencyProfileTest, LookupsAndInterpolation) {
  const LatencyProfile profile = ThreeSubnetProfile();
  EXPECT_EQ(profile.Find(1)->accuracy, 0.85);
  EXPECT_EQ(profile.Find(7), nullptr);
  EXPECT_EQ(profile.FastestIndex(), 0);
  EXPECT_EQ(profile.MostAccurateIndex(), 2);
  EXPECT_EQ(profile.MaxBatch(), 8);
  const SubnetLatency& s2 = *profile.Find(2);
  EXPECT_DOUBLE_EQ(P99Us(s2, 1), 4000);
  EXPECT_DOUBLE_EQ(P99Us(s2, 4), 6400);
  EXPECT_DOUBLE_EQ(P99Us(s2, 3), 5600);    // halfway between 2 and 4
  EXPECT_DOUBLE_EQ(P99Us(s2, 6), 8000);    // halfway between 4 and 8
  EXPECT_DOUBLE_EQ(P99Us(s2, 12), 12800);  // extrapolated along 4 -> 8
  EXPECT_DOUBLE_EQ(P50Us(s2, 8), 0.8 * 9600);
}

// A valid file's JSON, for tests to break one field at a time.
nlohmann::json ValidJson() {
  return nlohmann::json::parse(LatencyProfileToJson(ThreeSubnetProfile()));
}

struct BadField {
  std::string name;
  void (*mutate)(nlohmann::json*);
  std::string message;  // expected after "bad.json: "
};

class BadProfileTest : public ::testing::TestWithParam<BadField> {};

TEST_P(BadProfileTest, IsRefusedNamingFileAndField) {
  nlohmann::json json = ValidJson();
  GetParam().mutate(&json);
  absl::StatusOr<LatencyProfile> parsed = ParseLatencyProfile(json.dump(), "bad.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(parsed.status().message(), "bad.json: " + GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, BadProfileTest,
    ::testing::Values(
        BadField{"format", [](auto* j) { (*j)["format"] = "other"; },
                 "format: must be \"ternserve-latency-profile\""},
        BadField{"version", [](auto* j) { (*j)["version"] = 2; },
                 "version: 2 is not supported (want 1)"},
        BadField{"no_engine", [](auto* j) { j->erase("engine"); }, "engine: missing"},
        BadField{"workers_type", [](auto* j) { (*j)["workers"] = "two"; },
                 "workers: must be an integer"},
        BadField{"workers_zero", [](auto* j) { (*j)["workers"] = 0; }, "workers: must be >= 1"},
        BadField{"overhead", [](auto* j) { (*j)["overhead_us"] = -1; },
                 "overhead_us: must be finite and >= 0"},
        BadField{"no_subnets", [](auto* j) { (*j)["subnets"] = nlohmann::json::array(); },
                 "subnets: must not be empty"},
        BadField{"subnets_type", [](auto* j) { (*j)["subnets"] = 3; }, "subnets: must be an array"},
        BadField{"dup_id", [](auto* j) { (*j)["subnets"][2]["id"] = 0; },
                 "subnets[2].id: duplicate sub-net id 0"},
        BadField{"accuracy", [](auto* j) { (*j)["subnets"][1]["accuracy"] = 1.5; },
                 "subnets[1].accuracy: must be in [0, 1]"},
        BadField{"no_accuracy", [](auto* j) { (*j)["subnets"][1].erase("accuracy"); },
                 "subnets[1].accuracy: missing"},
        BadField{"p99_zero", [](auto* j) { (*j)["subnets"][2]["batches"][3]["p99_us"] = 0; },
                 "subnets[2].batches[3].p99_us: must be > 0"},
        BadField{"p99_below_p50", [](auto* j) { (*j)["subnets"][2]["batches"][1]["p99_us"] = 1; },
                 "subnets[2].batches[1].p99_us: must be >= p50_us"},
        BadField{"p50_string", [](auto* j) { (*j)["subnets"][0]["batches"][0]["p50_us"] = "1"; },
                 "subnets[0].batches[0].p50_us: must be a number"},
        BadField{"first_batch", [](auto* j) { (*j)["subnets"][0]["batches"][0]["batch"] = 2; },
                 "subnets[0].batches[0].batch: must be 1"},
        BadField{"batch_order", [](auto* j) { (*j)["subnets"][0]["batches"][2]["batch"] = 2; },
                 "subnets[0].batches[2].batch: must be larger than the previous batch"},
        BadField{"batch_float", [](auto* j) { (*j)["subnets"][0]["batches"][2]["batch"] = 2.5; },
                 "subnets[0].batches[2].batch: must be an integer"},
        BadField{"no_batches",
                 [](auto* j) { (*j)["subnets"][0]["batches"] = nlohmann::json::array(); },
                 "subnets[0].batches: must not be empty"}),
    [](const auto& info) { return info.param.name; });

TEST(LatencyProfileTest, NotJsonAndMissingFile) {
  absl::StatusOr<LatencyProfile> parsed = ParseLatencyProfile("{\"format\": ", "broken.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("broken.json: not valid JSON"));
  parsed = ParseLatencyProfile("[1, 2]", "array.json");
  EXPECT_EQ(parsed.status().message(), "array.json: (top level): must be an object");
  absl::StatusOr<LatencyProfile> missing = LoadLatencyProfile("/nonexistent/profile.json");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/profile.json"));
}

TEST(LatencyProfileTest, SaveRefusesInvalidProfile) {
  LatencyProfile profile = ThreeSubnetProfile();
  profile.subnets[0].batches[0].p50_us = -3;
  const std::string path = TempPath("invalid.json");
  absl::Status saved = SaveLatencyProfile(profile, path);
  EXPECT_EQ(saved.message(), path + ": subnets[0].batches[0].p50_us: must be > 0");
  EXPECT_FALSE(std::ifstream(path).good());
}

}  // namespace
}  // namespace ternserve
