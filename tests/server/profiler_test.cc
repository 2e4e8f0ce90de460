// Tests for server/profiler.cc (MeasureLatencyProfile) with fake engines and a real TernaryEngine,
// and for the ternserve-profile binary (server/profile_main.cc): exit codes and the file it writes.
#include "server/profiler.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/arch.h"
#include "models/ternary_engine.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/synthetic_bundle.h"

namespace ternserve {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sleeps base_us + per_image_us * batch per run, so latency grows with batch by construction.
// Counts its runs and the most runs in flight at once over every engine sharing `in_flight`.
class SleepEngine final : public Engine {
 public:
  struct Shared {
    std::atomic<int> in_flight{0};
    std::atomic<int> max_in_flight{0};
  };
  SleepEngine(double base_us, double per_image_us, Shared* shared)
      : base_us_(base_us), per_image_us_(per_image_us), shared_(shared) {}

  absl::StatusOr<LogitsView> Run(int subnet_id, absl::Span<const float> images,
                                 int batch) override {
    if (images.size() != static_cast<size_t>(batch) * 784) {
      return absl::InvalidArgumentError("size mismatch");
    }
    if (subnet_id == fail_subnet_id) return absl::InternalError("injected failure");
    const int now_in_flight = ++shared_->in_flight;
    int seen = shared_->max_in_flight.load();
    while (now_in_flight > seen &&
           !shared_->max_in_flight.compare_exchange_weak(seen, now_in_flight)) {
    }
    const double sleep_us = base_us_ + per_image_us_ * batch;
    if (sleep_us > 0) absl::SleepFor(absl::Microseconds(sleep_us));
    --shared_->in_flight;
    ++runs;
    logits_.assign(static_cast<size_t>(batch) * 10, 0.0f);
    return LogitsView{logits_.data(), batch, 10, 10};
  }
  std::string name() const override { return "fake"; }

  std::atomic<int> runs{0};
  int fail_subnet_id = -1;

 private:
  const double base_us_;
  const double per_image_us_;
  Shared* const shared_;
  std::vector<float> logits_;
};

std::vector<int> Batches(const SubnetLatency& subnet) {
  std::vector<int> batches;
  for (const BatchLatency& b : subnet.batches) batches.push_back(b.batch);
  return batches;
}

class ProfilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bundle_ = testing::CalibratedSyntheticBundle();
    ASSERT_GE(bundle_->metadata().subnets.size(), 2u);
  }

  ProfilerOptions QuickOptions() {
    ProfilerOptions options;
    options.budget = absl::Seconds(1);
    options.progress = [this](const std::string& line) { progress_.push_back(line); };
    return options;
  }

  std::unique_ptr<Bundle> bundle_;
  SleepEngine::Shared shared_;
  std::vector<std::string> progress_;
};

TEST_F(ProfilerTest, MeasuresEveryCellAndRecordsTheSetUp) {
  SleepEngine engine(/*base_us=*/200, /*per_image_us=*/100, &shared_);
  absl::StatusOr<LatencyProfile> profile =
      MeasureLatencyProfile(*bundle_, {&engine}, "fake-isa", 3, QuickOptions());
  ASSERT_TRUE(profile.ok()) << profile.status();

  EXPECT_EQ(profile->bundle_name, "synthetic");
  EXPECT_EQ(profile->bundle_path, "synthetic.tsn");
  EXPECT_EQ(profile->bundle_checksum, bundle_->checksum());
  EXPECT_EQ(profile->engine, "fake");
  EXPECT_EQ(profile->isa, "fake-isa");
  EXPECT_EQ(profile->workers, 1);
  EXPECT_EQ(profile->threads, 3);
  EXPECT_GT(profile->overhead_us, 0);
  EXPECT_LT(profile->overhead_us, 100000);  // a no-op round trip is not 100 ms

  const std::vector<SubnetMeta>& subnets = bundle_->metadata().subnets;
  ASSERT_EQ(profile->subnets.size(), subnets.size());
  for (size_t s = 0; s < subnets.size(); ++s) {
    const SubnetLatency& row = profile->subnets[s];
    EXPECT_EQ(row.id, subnets[s].id);
    EXPECT_EQ(row.name, subnets[s].name);
    EXPECT_DOUBLE_EQ(row.accuracy, subnets[s].test_accuracy);
    EXPECT_THAT(Batches(row), ElementsAreArray(kProfiledBatches));
    for (size_t i = 0; i < row.batches.size(); ++i) {
      const BatchLatency& cell = row.batches[i];
      EXPECT_GT(cell.p50_us, 0) << row.name << " batch " << cell.batch;
      EXPECT_GE(cell.p99_us, cell.p50_us) << row.name << " batch " << cell.batch;
      // The fake sleeps at least this long; a sleep never returns early.
      EXPECT_GE(cell.p50_us, 200 + 100 * cell.batch) << row.name << " batch " << cell.batch;
      if (i > 0) {
        EXPECT_GT(cell.p50_us, row.batches[i - 1].p50_us) << row.name;
      }
    }
  }
  EXPECT_TRUE(ValidateLatencyProfile(*profile, "test").ok());
}

TEST_F(ProfilerTest, ProfileRoundTripsThroughSaveAndLoad) {
  SleepEngine engine(0, 20, &shared_);
  absl::StatusOr<LatencyProfile> profile =
      MeasureLatencyProfile(*bundle_, {&engine}, "", 1, QuickOptions());
  ASSERT_TRUE(profile.ok()) << profile.status();
  const std::string path = absl::StrCat(::testing::TempDir(), "/profiler_test_profile.json");
  ASSERT_TRUE(SaveLatencyProfile(*profile, path).ok());
  absl::StatusOr<LatencyProfile> loaded = LoadLatencyProfile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(LatencyProfileToJson(*loaded), LatencyProfileToJson(*profile));
}

TEST_F(ProfilerTest, ReportsProgressOncePerCellAndPerRound) {
  SleepEngine engine(0, 10, &shared_);
  ASSERT_TRUE(MeasureLatencyProfile(*bundle_, {&engine}, "", 1, QuickOptions()).ok());
  const size_t cells = bundle_->metadata().subnets.size() * std::size(kProfiledBatches);
  ASSERT_FALSE(progress_.empty());
  EXPECT_THAT(progress_[0], HasSubstr("dispatch overhead"));
  std::vector<std::string> cell_lines;
  int round_lines = 0;
  for (const std::string& line : progress_) {
    if (absl::StartsWith(line, "profiling round ")) {
      EXPECT_THAT(line, HasSubstr("ETA"));
      EXPECT_TRUE(cell_lines.empty()) << "rounds end before the final per-cell lines";
      ++round_lines;
    } else if (absl::StartsWith(line, "profiling ")) {
      cell_lines.push_back(line);
    }
  }
  EXPECT_GE(round_lines, 1);
  EXPECT_EQ(progress_.size(), 1 + round_lines + cell_lines.size());
  ASSERT_EQ(cell_lines.size(), cells);
  const SubnetMeta& first = bundle_->metadata().subnets.front();
  EXPECT_THAT(cell_lines[0],
              StartsWith(absl::StrCat("profiling 1/", cells, ": ", first.name, " batch 1: p50 ")));
  EXPECT_THAT(cell_lines[0], HasSubstr("ETA"));
  EXPECT_THAT(cell_lines.back(), StartsWith(absl::StrCat("profiling ", cells, "/", cells, ": ")));
  EXPECT_THAT(cell_lines.back(), HasSubstr("batch 64"));
}

TEST_F(ProfilerTest, CellsKeepRunningUntilTheirShareOfTheBudgetIsSpent) {
  SleepEngine engine(0, 1, &shared_);  // about as cheap as a sleep gets (tens of us on a VM)
  ProfilerOptions options = QuickOptions();
  options.min_iterations = 2;
  ASSERT_TRUE(MeasureLatencyProfile(*bundle_, {&engine}, "", 1, options).ok());
  // A 1 s budget over these cells leaves each tens of ms: far more runs than the minimum (one
  // warm-up and min_iterations per cell), which is all a profiler that ignored the budget runs.
  const int cells = static_cast<int>(bundle_->metadata().subnets.size() * options.batches.size());
  EXPECT_GT(engine.runs.load(), 10 * cells * (1 + options.min_iterations));
}

TEST_F(ProfilerTest, AProfileMatchesOnlyItsOwnBundleAndTakesItsAccuracies) {
  LatencyProfile profile;
  profile.bundle_path = "measured.tsn";
  profile.bundle_checksum = bundle_->checksum();
  for (const SubnetMeta& meta : bundle_->metadata().subnets) {
    profile.subnets.push_back({meta.id, meta.name, /*accuracy=*/0.123, {{1, 100, 200}}});
  }
  absl::StatusOr<LatencyProfile> matched = MatchProfileToBundle(profile, "p.json", *bundle_);
  ASSERT_TRUE(matched.ok()) << matched.status();
  for (const SubnetLatency& s : matched->subnets) {
    EXPECT_EQ(s.accuracy, bundle_->FindSubnet(s.id)->test_accuracy) << s.name;
    EXPECT_NE(s.accuracy, 0.123);
  }
  // Another bundle's profile, even with the same sub-net names: both checksums are named.
  LatencyProfile retrained = profile;
  retrained.bundle_checksum = "crc32:0badf00d";
  absl::StatusOr<LatencyProfile> refused = MatchProfileToBundle(retrained, "p.json", *bundle_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("profile p.json was measured on bundle measured.tsn (checksum "
                        "crc32:0badf00d), not on"));
  EXPECT_THAT(refused.status().message(), HasSubstr(bundle_->checksum()));
  // A sub-net missing, or one the bundle lacks.
  LatencyProfile missing = profile;
  missing.subnets.pop_back();
  EXPECT_THAT(MatchProfileToBundle(missing, "p.json", *bundle_).status().message(),
              HasSubstr("no latencies for sub-net"));
  LatencyProfile extra = profile;
  extra.subnets.push_back({999, "d9.9.9-w9.9.9", 0.5, {{1, 100, 200}}});
  EXPECT_THAT(MatchProfileToBundle(extra, "p.json", *bundle_).status().message(),
              HasSubstr("sub-net 999 (d9.9.9-w9.9.9) is not in bundle"));
}

// With no time to spare, every cell costs exactly one warm-up and min_iterations timed runs: not
// fewer, and not an extra run in each round.
TEST_F(ProfilerTest, RunsEveryCellExactlyMinIterationsWhenTheBudgetIsTiny) {
  SleepEngine engine(0, 5, &shared_);
  ProfilerOptions options = QuickOptions();
  options.budget = absl::Microseconds(10);
  options.min_iterations = 2;  // fewer than the rounds
  options.batches = {1, 3};
  ASSERT_TRUE(MeasureLatencyProfile(*bundle_, {&engine}, "", 1, options).ok());
  const int cells = static_cast<int>(bundle_->metadata().subnets.size()) * 2;
  EXPECT_EQ(engine.runs.load(), cells * (1 + 2));
}

TEST_F(ProfilerTest, AllWorkersRunConcurrently) {
  SleepEngine first(500, 10, &shared_);
  SleepEngine second(500, 10, &shared_);
  absl::StatusOr<LatencyProfile> profile =
      MeasureLatencyProfile(*bundle_, {&first, &second}, "", 1, QuickOptions());
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->workers, 2);
  const int cells =
      static_cast<int>(bundle_->metadata().subnets.size() * std::size(kProfiledBatches));
  EXPECT_GE(first.runs.load(), cells);  // at least the warm-up of every cell
  EXPECT_GE(second.runs.load(), cells);
  EXPECT_EQ(shared_.max_in_flight.load(), 2);
}

TEST_F(ProfilerTest, RefusesBadArguments) {
  SleepEngine engine(0, 0, &shared_);
  EXPECT_EQ(MeasureLatencyProfile(*bundle_, {}, "", 1, QuickOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      MeasureLatencyProfile(*bundle_, {&engine, nullptr}, "", 1, QuickOptions()).status().code(),
      absl::StatusCode::kInvalidArgument);
  const std::vector<std::vector<int>> bad_batches = {{}, {2, 4}, {1, 4, 4}, {1, 8, 2}};
  for (const std::vector<int>& batches : bad_batches) {
    ProfilerOptions options = QuickOptions();
    options.batches = batches;
    EXPECT_EQ(MeasureLatencyProfile(*bundle_, {&engine}, "", 1, options).status().code(),
              absl::StatusCode::kInvalidArgument);
  }
  ProfilerOptions options = QuickOptions();
  options.budget = absl::ZeroDuration();
  EXPECT_FALSE(MeasureLatencyProfile(*bundle_, {&engine}, "", 1, options).ok());
  options = QuickOptions();
  options.min_iterations = 0;
  EXPECT_FALSE(MeasureLatencyProfile(*bundle_, {&engine}, "", 1, options).ok());
  EXPECT_EQ(engine.runs.load(), 0);  // refused before measuring anything
}

TEST_F(ProfilerTest, AnEngineErrorNamesTheCell) {
  SleepEngine engine(0, 0, &shared_);
  engine.fail_subnet_id = bundle_->metadata().subnets.back().id;
  absl::StatusOr<LatencyProfile> profile =
      MeasureLatencyProfile(*bundle_, {&engine}, "", 1, QuickOptions());
  ASSERT_FALSE(profile.ok());
  EXPECT_EQ(profile.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(profile.status().message()),
              HasSubstr(absl::StrCat("sub-net ", engine.fail_subnet_id)));
  EXPECT_THAT(std::string(profile.status().message()), HasSubstr("batch 1"));
  EXPECT_THAT(std::string(profile.status().message()), HasSubstr("injected failure"));
}

TEST_F(ProfilerTest, ProfilesARealTernaryEngine) {
  absl::StatusOr<std::unique_ptr<TernaryEngine>> engine = TernaryEngine::Create(*bundle_, {1, ""});
  ASSERT_TRUE(engine.ok()) << engine.status();
  ProfilerOptions options = QuickOptions();
  options.budget = absl::Milliseconds(300);
  options.min_iterations = 2;
  absl::StatusOr<LatencyProfile> profile =
      MeasureLatencyProfile(*bundle_, {engine->get()}, (*engine)->isa(), 1, options);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->engine, "ternary");
  EXPECT_EQ(profile->isa, (*engine)->isa());
  for (const SubnetLatency& row : profile->subnets) {
    // 64 images cost more than one, whatever the noise.
    EXPECT_GT(row.batches.back().p50_us, row.batches.front().p50_us) << row.name;
  }
}

// ternserve-profile, run as a child process.
class ProfileMainTest : public ::testing::Test {
 protected:
  std::pair<int, std::string> Profile(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {TERNSERVE_PROFILE_BIN};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<std::pair<int, std::string>> result = testing::RunToCompletion(
        argv,
        absl::StrCat(::testing::TempDir(), "/profile_main.",
                     ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".out"),
        absl::Seconds(120));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : std::make_pair(-1, std::string());
  }
};

TEST_F(ProfileMainTest, BadFlagsExit2AndHelpExits0) {
  EXPECT_EQ(Profile({"--no_such_flag"}).first, 2);
  EXPECT_EQ(Profile({"--bundle=b.tsn", "--out=p.json", "--workers=two"}).first, 2);
  EXPECT_EQ(Profile({"--bundle=b.tsn", "--out=p.json", "--workers=0"}).first, 2);
  EXPECT_EQ(Profile({"--bundle=b.tsn", "--out=p.json", "--engine=onnx"}).first, 2);
  EXPECT_EQ(Profile({"--bundle=b.tsn", "--out=p.json", "--budget_s=0"}).first, 2);
  EXPECT_EQ(Profile({"--out=p.json"}).first, 2);  // no --bundle
  const auto [code, out] = Profile({"--help"});
  EXPECT_EQ(code, 0);
  EXPECT_THAT(out, HasSubstr("--budget_s"));
  EXPECT_THAT(out, HasSubstr("--workers"));
}

TEST_F(ProfileMainTest, UnusableBundleExits1) {
  const std::string out = absl::StrCat(::testing::TempDir(), "/unused_profile.json");
  EXPECT_EQ(Profile({"--bundle=/nonexistent.tsn", "--out=" + out}).first, 1);
  // Not calibrated for the ternary engine: the engine cannot be created.
  const std::string uncalibrated = absl::StrCat(::testing::TempDir(), "/uncalibrated.tsn");
  ASSERT_TRUE(testing::SyntheticWriter({}).WriteFile(uncalibrated).ok());
  EXPECT_EQ(Profile({"--bundle=" + uncalibrated, "--out=" + out}).first, 1);
}

TEST_F(ProfileMainTest, WritesALoadableProfile) {
  const std::string bundle_path = absl::StrCat(::testing::TempDir(), "/profile_main.tsn");
  BundleWriter writer = BundleWriter::CopyOf(*testing::CalibratedSyntheticBundle());
  ASSERT_TRUE(writer.WriteFile(bundle_path).ok());
  const std::string out = absl::StrCat(::testing::TempDir(), "/profile_main.json");
  const auto [code, stdout_text] = Profile({"--bundle=" + bundle_path, "--out=" + out,
                                            "--workers=2", "--budget_s=0.5", "--min_iterations=2"});
  ASSERT_EQ(code, 0) << stdout_text;
  absl::StatusOr<LatencyProfile> profile = LoadLatencyProfile(out);
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->engine, "ternary");
  EXPECT_FALSE(profile->isa.empty());
  EXPECT_EQ(profile->workers, 2);
  EXPECT_GE(profile->threads, 1);
  EXPECT_EQ(profile->bundle_path, bundle_path);
  EXPECT_THAT(profile->bundle_checksum, StartsWith("crc32:"));
  EXPECT_EQ(profile->subnets.size(), 2u);
  for (const SubnetLatency& row : profile->subnets) {
    EXPECT_THAT(Batches(row), ElementsAreArray(kProfiledBatches));
    EXPECT_THAT(stdout_text, HasSubstr(row.name));  // the summary table
  }
}

}  // namespace
}  // namespace ternserve
