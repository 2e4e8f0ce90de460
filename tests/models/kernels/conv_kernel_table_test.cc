// The kernel table's dispatch as a function of injected CPU features, and the detection itself
// against the kernel's own report (/proc/cpuinfo).
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/kernels/conv_kernels.h"
#include "models/kernels/cpu_features.h"

namespace ternserve::kernels {
namespace {

using ::testing::HasSubstr;

CpuFeatures Avx2Only() {
  CpuFeatures cpu;
  cpu.avx2 = true;
  return cpu;
}

CpuFeatures Avx512Vnni() {
  CpuFeatures cpu = Avx2Only();
  cpu.avx512f = cpu.avx512bw = cpu.avx512vl = cpu.avx512vnni = true;
  return cpu;
}

TEST(ConvKernelTableTest, ScalarFirstAndNamesAreUnique) {
  size_t count = 0;
  const TernaryConvKernel* table = TernaryConvKernels(&count);
  ASSERT_GE(count, 3u);
  EXPECT_STREQ(table[0].name, "scalar");
  std::set<std::string> names;
  for (size_t i = 0; i < count; ++i) {
    EXPECT_TRUE(names.insert(table[i].name).second) << table[i].name;
    EXPECT_EQ(FindTernaryConvKernel(table[i].name), &table[i]);
  }
  EXPECT_EQ(FindTernaryConvKernel("no-such-isa"), nullptr);
}

// A table of cases: which variant each CPU gets.
TEST(ConvKernelTableTest, BestVariantFollowsTheInjectedFeatures) {
  CpuFeatures avx512_without_vnni = Avx512Vnni();
  avx512_without_vnni.avx512vnni = false;
  CpuFeatures vnni_without_bw = Avx512Vnni();
  vnni_without_bw.avx512bw = false;
  const struct {
    const char* what;
    CpuFeatures cpu;
    const char* best;
  } kCases[] = {
      {"no SIMD features", CpuFeatures{}, "scalar"},
      {"AVX2 only", Avx2Only(), "avx2"},
      {"AVX-512 F/BW/VL without VNNI", avx512_without_vnni, "avx2"},
      {"AVX-512 VNNI without BW", vnni_without_bw, "avx2"},
      {"AVX-512 F/BW/VL/VNNI", Avx512Vnni(), "avx512vnni"},
  };
  for (const auto& c : kCases) {
    EXPECT_STREQ(BestTernaryConvKernel(c.cpu).name, c.best) << c.what;
    EXPECT_TRUE(BestTernaryConvKernel(c.cpu).supported(c.cpu)) << c.what;
  }
}

TEST(ConvKernelTableTest, LookUpNamesWhatTheCpuLacks) {
  const TernaryConvKernelLookup lacks = LookUpTernaryConvKernel("avx512vnni", Avx2Only());
  ASSERT_NE(lacks.kernel, nullptr);
  EXPECT_FALSE(lacks.ok());
  EXPECT_EQ(lacks.missing, "avx512f avx512bw avx512vl avx512vnni");
  EXPECT_THAT(lacks.error, HasSubstr("this CPU lacks avx512vnni"));
  EXPECT_THAT(lacks.error, HasSubstr("it supports: scalar, avx2)"));

  const TernaryConvKernelLookup no_avx2 = LookUpTernaryConvKernel("avx2", CpuFeatures{});
  EXPECT_FALSE(no_avx2.ok());
  EXPECT_EQ(no_avx2.missing, "avx2");

  const TernaryConvKernelLookup fine = LookUpTernaryConvKernel("avx2", Avx512Vnni());
  EXPECT_TRUE(fine.ok());
  EXPECT_STREQ(fine.kernel->name, "avx2");
  EXPECT_EQ(fine.error, "");

  const TernaryConvKernelLookup unknown = LookUpTernaryConvKernel("sse9", Avx512Vnni());
  EXPECT_EQ(unknown.kernel, nullptr);
  EXPECT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.error,
              HasSubstr("unknown ISA \"sse9\" (choose one of scalar, avx2, avx512vnni)"));
}

TEST(CpuFeaturesTest, MissingListsOnlyRequiredFeaturesTheCpuLacks) {
  EXPECT_EQ(MissingCpuFeatures(CpuFeatures{}, CpuFeatures{}), "");
  EXPECT_EQ(MissingCpuFeatures(Avx2Only(), Avx2Only()), "");
  EXPECT_EQ(MissingCpuFeatures(Avx512Vnni(), Avx2Only()), "");
  EXPECT_EQ(MissingCpuFeatures(CpuFeatures{}, Avx2Only()), "avx2");
  EXPECT_TRUE(HasCpuFeatures(Avx512Vnni(), Avx2Only()));
  EXPECT_FALSE(HasCpuFeatures(Avx2Only(), Avx512Vnni()));
}

// The flags of the first processor in /proc/cpuinfo; empty if there is none (not Linux).
std::set<std::string> ProcCpuinfoFlags() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::set<std::string> flags;
    for (std::string w; words >> w;) flags.insert(w);
    return flags;
  }
  return {};
}

// Linux lists a flag only where the kernel also enabled its register state (XCR0), which is what
// DetectCpuFeatures() checks too.
TEST(CpuFeaturesTest, DetectionAgreesWithProcCpuinfo) {
  const std::set<std::string> flags = ProcCpuinfoFlags();
  if (flags.empty()) GTEST_SKIP() << "no /proc/cpuinfo flags line";
  const CpuFeatures& cpu = DetectCpuFeatures();
  EXPECT_EQ(cpu.avx2, flags.count("avx2") == 1);
  EXPECT_EQ(cpu.avx512f, flags.count("avx512f") == 1);
  EXPECT_EQ(cpu.avx512bw, flags.count("avx512bw") == 1);
  EXPECT_EQ(cpu.avx512vl, flags.count("avx512vl") == 1);
  EXPECT_EQ(cpu.avx512vnni, flags.count("avx512_vnni") == 1);
  EXPECT_EQ(&BestTernaryConvKernel(), &BestTernaryConvKernel(cpu));
}

}  // namespace
}  // namespace ternserve::kernels
