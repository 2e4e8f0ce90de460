#include "models/kernels/ternary_pack.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ternserve::kernels {
namespace {

TEST(TernaryPackTest, RoundTripsEveryValueAndOddRowLengths) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> value(-1, 1);
  for (int64_t k : {1, 3, 4, 5, 9, 27, 64, 1153}) {
    const int64_t rows = 3;
    std::vector<int8_t> t(rows * k);
    for (int8_t& x : t) x = static_cast<int8_t>(value(rng));
    std::vector<uint8_t> packed(PackedMatrixBytes(rows, k));
    ASSERT_TRUE(PackTernary(t.data(), rows, k, packed.data()));
    EXPECT_TRUE(ValidatePackedTernary(packed.data(), rows, k));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < k; ++i) {
        ASSERT_EQ(TernaryAt(packed.data() + r * PackedRowBytes(k), i), t[r * k + i])
            << "k=" << k << " i=" << i;
      }
    }
  }
}

TEST(TernaryPackTest, CodesAreTwoBitTwosComplement) {
  const std::vector<int8_t> t = {0, 1, -1, 1};
  uint8_t packed = 0xff;
  ASSERT_TRUE(PackTernary(t.data(), 1, 4, &packed));
  EXPECT_EQ(packed, (kCodeZero << 0) | (kCodePlus << 2) | (kCodeMinus << 4) | (kCodePlus << 6));
}

TEST(TernaryPackTest, RejectsValuesOutsideTernary) {
  const std::vector<int8_t> t = {0, 2, -1};
  uint8_t packed[1];
  EXPECT_FALSE(PackTernary(t.data(), 1, 3, packed));
}

TEST(TernaryPackTest, ValidationCatchesInvalidCodeAndNonZeroPadding) {
  const uint8_t invalid = kCodeInvalid << 2;
  EXPECT_FALSE(ValidatePackedTernary(&invalid, 1, 4));
  const uint8_t padding_set = kCodePlus << 6;  // k = 3: code 3 is padding
  EXPECT_FALSE(ValidatePackedTernary(&padding_set, 1, 3));
  EXPECT_TRUE(ValidatePackedTernary(&padding_set, 1, 4));
}

TEST(TernaryPackTest, CountsZerosInLeadingSubMatrix) {
  // 2 x 5: row 0 = 0 1 0 -1 0, row 1 = 1 1 0 0 0.
  const std::vector<int8_t> t = {0, 1, 0, -1, 0, 1, 1, 0, 0, 0};
  std::vector<uint8_t> packed(PackedMatrixBytes(2, 5));
  ASSERT_TRUE(PackTernary(t.data(), 2, 5, packed.data()));
  EXPECT_EQ(CountZeroCodes(packed.data(), 5, 2, 5), 6);
  EXPECT_EQ(CountZeroCodes(packed.data(), 5, 1, 3), 2);
  EXPECT_EQ(CountZeroCodes(packed.data(), 5, 2, 2), 1);
}

}  // namespace
}  // namespace ternserve::kernels
