// Tests for scheduler/speed.cc: speed specs and files, and the factor each kind gives over time.
#include "scheduler/speed.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ternserve {
namespace {

using ::testing::HasSubstr;

double At(SpeedModel* model, double s) { return model->FactorAt(absl::Seconds(s)); }

TEST(SpeedSpecTest, ParsesEveryKind) {
  absl::StatusOr<SpeedSpec> none = ParseSpeedSpec("none");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->kind, SpeedSpec::Kind::kNone);
  absl::StatusOr<SpeedSpec> step = ParseSpeedSpec("step:at=30,factor=1.5");
  ASSERT_TRUE(step.ok()) << step.status();
  EXPECT_EQ(step->kind, SpeedSpec::Kind::kStep);
  EXPECT_EQ(step->at_s, 30);
  EXPECT_EQ(step->factor, 1.5);
  EXPECT_EQ(step->text, "step:at=30,factor=1.5");
  absl::StatusOr<SpeedSpec> ramp = ParseSpeedSpec("ramp:from=1,to=2,start=10,end=20");
  ASSERT_TRUE(ramp.ok()) << ramp.status();
  EXPECT_EQ(ramp->end_s, 20);
  absl::StatusOr<SpeedSpec> spells = ParseSpeedSpec("spells:factor=1.2,on_s=2,off_s=8");
  ASSERT_TRUE(spells.ok()) << spells.status();
  EXPECT_EQ(spells->on_s, 2);
  EXPECT_EQ(spells->off_s, 8);
}

TEST(SpeedSpecTest, RefusesBadSpecsSayingWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "missing ':'"},
      {"fast", "missing ':'"},
      {"warp:factor=2", "unknown kind 'warp'"},
      {"step:at=30", "missing factor="},
      {"step:at=30,factor=1.5,x=1", "unknown parameter 'x'"},
      {"step:at=30,factor=abc", "is not a number"},
      {"step:at=30,factor=0", "factor must be in [0.1, 100]"},
      {"step:at=-1,factor=2", "at must be in"},
      {"ramp:from=1,to=2,start=20,end=10", "start < end"},
      {"spells:factor=2,on_s=0,off_s=1", "on_s and off_s"},
      {"file:", "missing file path"},
  };
  for (const auto& [spec, why] : cases) {
    absl::StatusOr<SpeedSpec> parsed = ParseSpeedSpec(spec);
    ASSERT_FALSE(parsed.ok()) << spec;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(parsed.status().message(), HasSubstr(why)) << spec;
  }
  EXPECT_EQ(ParseSpeedSpec("file:/nonexistent/speed.txt").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SpeedSpecTest, FilesAreCheckedLineByLine) {
  absl::StatusOr<std::vector<std::pair<double, double>>> points =
      ParseSpeedFile("# recorded\n0 1.0\n10.5 1.3  # a spell\n\n20,1\n", "speed.txt");
  ASSERT_TRUE(points.ok()) << points.status();
  EXPECT_THAT(*points, ::testing::ElementsAre(std::make_pair(0.0, 1.0), std::make_pair(10.5, 1.3),
                                              std::make_pair(20.0, 1.0)));
  const std::pair<const char*, const char*> bad[] = {
      {"0 1\n5\n", "speed.txt:2: expected '<time_s> <factor>', got 1 fields"},
      {"0 1\n5 x\n", "speed.txt:2: factor 'x' is not a number"},
      {"0 1\n5 1000\n", "speed.txt:2: factor '1000'"},
      {"5 1\n5 2\n", "speed.txt:2: time 5 is not after"},
      {"-1 1\n", "speed.txt:1: time '-1'"},
      {"# nothing\n", "speed.txt: no speed points"},
  };
  for (const auto& [text, why] : bad) {
    absl::StatusOr<std::vector<std::pair<double, double>>> parsed =
        ParseSpeedFile(text, "speed.txt");
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_THAT(parsed.status().message(), HasSubstr(why)) << text;
  }
}

TEST(SpeedModelTest, StepRampAndFileGiveTheirFactorsOverTime) {
  SpeedModel step(*ParseSpeedSpec("step:at=30,factor=1.5"), 1);
  EXPECT_EQ(At(&step, 0), 1);
  EXPECT_EQ(At(&step, 29.999), 1);
  EXPECT_EQ(At(&step, 30), 1.5);
  EXPECT_EQ(At(&step, 1000), 1.5);
  SpeedModel ramp(*ParseSpeedSpec("ramp:from=1,to=2,start=10,end=20"), 1);
  EXPECT_EQ(At(&ramp, 5), 1);
  EXPECT_DOUBLE_EQ(At(&ramp, 15), 1.5);
  EXPECT_EQ(At(&ramp, 25), 2);
  const std::string path = ::testing::TempDir() + "/speed_test_file.txt";
  {
    std::ofstream out(path);
    out << "2 1.2\n4 1.0\n";
  }
  SpeedModel file(*ParseSpeedSpec("file:" + path), 1);
  EXPECT_EQ(At(&file, 1), 1);  // before the first point
  EXPECT_EQ(At(&file, 2), 1.2);
  EXPECT_EQ(At(&file, 3.9), 1.2);
  EXPECT_EQ(At(&file, 4), 1.0);
  std::remove(path.c_str());
}

TEST(SpeedModelTest, SpellsAreDeterministicAndSlowForTheirShareOfTheTime) {
  const SpeedSpec spec = *ParseSpeedSpec("spells:factor=1.2,on_s=2,off_s=8");
  SpeedModel a(spec, 7), b(spec, 7), c(spec, 8);
  int slow = 0, differ = 0;
  const int steps = 200000;  // 20000 s in 100 ms steps: about 2000 spells
  for (int i = 0; i < steps; ++i) {
    const double fa = At(&a, i * 0.1);
    ASSERT_EQ(fa, At(&b, i * 0.1)) << i;
    ASSERT_TRUE(fa == 1 || fa == 1.2) << fa;
    slow += fa == 1.2;
    differ += fa != At(&c, i * 0.1);
  }
  // on / (on + off) = 20% of the time; over ~2000 spells the share is within a few points.
  EXPECT_NEAR(static_cast<double>(slow) / steps, 0.2, 0.03);
  EXPECT_GT(differ, steps / 20);  // another seed, other spells
}

}  // namespace
}  // namespace ternserve
