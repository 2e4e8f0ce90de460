#include "models/arch.h"

#include <set>

#include "gtest/gtest.h"

namespace ternserve {
namespace {

// The MAC count of a sub-net written out independently of models/arch.cc: every conv costs
// out_pixels x out_channels x in_channels x k x k (3x3 convs, 1x1 shortcuts), plus the classifier.
int64_t ReferenceMacs(std::array<int, 3> widths, std::array<int, 3> depths) {
  int64_t side = 28, cin = widths[0];
  int64_t macs = 28 * 28 * widths[0] * 9;
  for (int s = 0; s < 3; ++s) {
    for (int b = 0; b < depths[s]; ++b) {
      const int stride = (b == 0 && s > 0) ? 2 : 1;
      const int64_t out = side / stride, w = widths[s];
      macs += out * out * w * cin * 9 + out * out * w * w * 9 +
              ((cin != w || stride != 1) ? out * out * w * cin : 0);
      side = out;
      cin = w;
    }
  }
  return macs + widths[2] * 10;  // plus the classifier
}

TEST(ArchTest, SpaceHas1728DistinctSubnets) {
  const ArchConfig arch;
  const std::vector<SubnetConfig> all = AllSubnets(arch);
  EXPECT_EQ(all.size(), 1728u);
  std::set<std::string> names;
  for (const SubnetConfig& s : all) {
    EXPECT_TRUE(ValidateSubnet(arch, s).ok()) << SubnetName(s);
    names.insert(SubnetName(s));
  }
  EXPECT_EQ(names.size(), 1728u);
}

TEST(ArchTest, MacsMatchTheReferenceFormula) {
  const ArchConfig arch;
  EXPECT_EQ(CountMacs(arch, LargestSubnet(arch)), ReferenceMacs({32, 64, 128}, {3, 3, 3}));
  EXPECT_NEAR(CountMacs(arch, LargestSubnet(arch)) / 1e6, 124.0, 0.5);
  for (const SubnetConfig& s : AllSubnets(arch)) {
    // The reference treats stage 0's first block as identity only when stem width == stage 0 width,
    // as here.
    ASSERT_EQ(CountMacs(arch, s), ReferenceMacs(s.widths, s.depths)) << SubnetName(s);
  }
}

TEST(ArchTest, LayersAndSlicing) {
  const ArchConfig arch;
  const std::vector<LayerSpec> layers = SupernetLayers(arch);
  // stem + 9 blocks x 2 convs + 2 shortcuts + fc.
  EXPECT_EQ(layers.size(), 1u + 18u + 2u + 1u);
  EXPECT_EQ(layers.front().name, "stem");
  EXPECT_EQ(layers.back().name, "fc");
  SubnetConfig s = {{1, 2, 3}, {8, 48, 128}};
  ASSERT_TRUE(ValidateSubnet(arch, s).ok());
  for (const LayerSpec& l : layers) {
    if (l.name == "s1.b0.shortcut") {
      EXPECT_EQ(l.kernel, 1);
      EXPECT_EQ(l.stride, 2);
      EXPECT_EQ(SlicedOut(l, s), 48);
      EXPECT_EQ(SlicedIn(l, s), 8);
    }
    if (l.name == "s0.b1.conv1") {
      EXPECT_FALSE(LayerActive(l, s));
    }
    if (l.name == "s2.b2.conv2") {
      EXPECT_TRUE(LayerActive(l, s));
    }
    if (l.name == "fc") {
      EXPECT_EQ(SlicedIn(l, s), 128);
    }
  }
  EXPECT_EQ(SubnetName(s), "d1.2.3-w8.48.128");
}

TEST(ArchTest, ValidateRejectsOffGridChoices) {
  const ArchConfig arch;
  EXPECT_FALSE(ValidateSubnet(arch, {{4, 1, 1}, {8, 16, 32}}).ok());
  EXPECT_FALSE(ValidateSubnet(arch, {{1, 1, 1}, {9, 16, 32}}).ok());
  EXPECT_FALSE(ValidateSubnet(arch, {{0, 1, 1}, {8, 16, 32}}).ok());
}

TEST(ArchTest, ParamsCountSlicedWeightsAndBias) {
  const ArchConfig arch;
  const SubnetConfig s = SmallestSubnet(arch);  // widths 8, 16, 32; one block per stage
  const int64_t expected = 8 * 1 * 9 + (8 * 8 * 9 * 2) + (16 * 8 * 9 + 16 * 16 * 9 + 16 * 8) +
                           (32 * 16 * 9 + 32 * 32 * 9 + 32 * 16) + 10 * 32 + 10;
  EXPECT_EQ(CountParams(arch, s), expected);
}

}  // namespace
}  // namespace ternserve
