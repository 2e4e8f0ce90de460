#include "models/pareto.h"

#include <set>

#include "gtest/gtest.h"

namespace ternserve {
namespace {

EvaluatedSubnet Point(int64_t macs, double acc) {
  EvaluatedSubnet e;
  e.macs = macs;
  e.val_accuracy = acc;
  return e;
}

TEST(ParetoTest, FrontKeepsOnlyNonDominatedPoints) {
  const std::vector<EvaluatedSubnet> points = {Point(10, 0.80), Point(20, 0.79), Point(20, 0.85),
                                               Point(30, 0.85), Point(40, 0.90), Point(5, 0.70),
                                               Point(50, 0.89)};
  // 5:0.70, 10:0.80, 20:0.85 (the better of the two at 20), 40:0.90. 30:0.85 ties 20 at more MACs:
  // dominated.
  EXPECT_EQ(ParetoFront(points), (std::vector<size_t>{5, 0, 2, 4}));
}

TEST(ParetoTest, ThinKeepsExtremesAndSpreadsInLogMacs) {
  std::vector<EvaluatedSubnet> points;
  for (int i = 0; i < 40; ++i) points.push_back(Point(int64_t{1} << (i / 2 + 1), 0.5 + 0.01 * i));
  for (int i = 0; i < 40; ++i) points[i].macs += i;  // distinct MACs
  const std::vector<size_t> front = ParetoFront(points);
  ASSERT_EQ(front.size(), 40u);
  const std::vector<size_t> thin = ThinFront(points, front, 10);
  ASSERT_EQ(thin.size(), 10u);
  EXPECT_EQ(thin.front(), front.front());
  EXPECT_EQ(thin.back(), front.back());
  EXPECT_EQ(ThinFront(points, front, 50), front);
}

TEST(ParetoTest, CandidatesIncludeExtremesUniformAndSamplesWithoutDuplicates) {
  const ArchConfig arch;
  const std::vector<SubnetConfig> c = SearchCandidates(arch, 100, 1);
  EXPECT_EQ(c[0], LargestSubnet(arch));
  EXPECT_EQ(c[1], SmallestSubnet(arch));
  std::set<std::string> names;
  for (const SubnetConfig& s : c) names.insert(SubnetName(s));
  EXPECT_EQ(names.size(), c.size());
  EXPECT_GE(c.size(), 12u + 90u);  // a few samples may collide with earlier ones
  EXPECT_TRUE(names.count("d2.2.2-w16.32.64"));
  EXPECT_EQ(SearchCandidates(arch, 100, 1).size(), c.size());  // deterministic for a seed
}

}  // namespace
}  // namespace ternserve
