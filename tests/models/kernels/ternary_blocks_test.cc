// Tests of the kernel weight layout: slicing, zero padding, tap sums, rejection of bad input.
#include "models/kernels/ternary_blocks.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/ternary_pack.h"

namespace ternserve::kernels {
namespace {

TEST(TernaryBlocksTest, RepackedSliceMatchesBundleCodesAndPadsWithZeros) {
  std::mt19937 rng(2);
  std::uniform_int_distribution<int> value(-1, 1);
  for (int kernel : {1, 3}) {
    const int full_out = 128, full_in = 128, taps = kernel * kernel;
    std::vector<int8_t> t(static_cast<size_t>(full_out) * full_in * taps);
    for (int8_t& x : t) x = static_cast<int8_t>(value(rng));
    std::vector<uint8_t> codes(PackedMatrixBytes(full_out, full_in * taps));
    ASSERT_TRUE(PackTernary(t.data(), full_out, full_in * taps, codes.data()));
    for (int out : {1, 8, 24, 128}) {
      for (int in : {1, 3, 48, 128}) {
        PackedTernaryConv p;
        ASSERT_TRUE(RepackTernaryConv(codes.data(), full_out, full_in, kernel, out, in, &p));
        EXPECT_EQ(p.out_blocks, (out + 15) / 16);
        EXPECT_EQ(p.in_groups, (in + 3) / 4);
        for (int o = 0; o < p.out_blocks * kBlockOut; ++o) {
          for (int tap = 0; tap < taps; ++tap) {
            int32_t sum = 0;
            for (int i = 0; i < p.in_groups * kBlockIn; ++i) {
              const int8_t expected =
                  o < out && i < in ? t[(static_cast<size_t>(o) * full_in + i) * taps + tap] : 0;
              const int8_t got =
                  p.Block(o / kBlockOut, tap, i / kBlockIn)->w[o % kBlockOut][i % kBlockIn];
              ASSERT_EQ(got, expected) << "k" << kernel << " " << in << "->" << out << " o" << o
                                       << " i" << i << " tap" << tap;
              sum += got;
            }
            ASSERT_EQ(p.TapSums(o / kBlockOut, tap)[o % kBlockOut], sum);
          }
        }
      }
    }
  }
}

TEST(TernaryBlocksTest, BlocksAreCacheLineAligned) {
  std::vector<int8_t> t(16 * 9, 1);
  std::vector<uint8_t> codes(PackedMatrixBytes(16, 9));
  ASSERT_TRUE(PackTernary(t.data(), 16, 9, codes.data()));
  PackedTernaryConv p;
  ASSERT_TRUE(RepackTernaryConv(codes.data(), 16, 1, 3, 16, 1, &p));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p.blocks.data()) % 64, 0u);
}

TEST(TernaryBlocksTest, RejectsBadSlicesKernelsAndInvalidCodes) {
  std::vector<uint8_t> codes(PackedMatrixBytes(4, 4 * 9), 0);
  PackedTernaryConv p;
  EXPECT_FALSE(RepackTernaryConv(codes.data(), 4, 4, 3, 5, 4, &p));  // out beyond full
  EXPECT_FALSE(RepackTernaryConv(codes.data(), 4, 4, 3, 4, 0, &p));  // empty
  EXPECT_FALSE(RepackTernaryConv(codes.data(), 4, 4, 5, 4, 4, &p));  // 5x5
  codes[2] = kCodeInvalid << 4;
  EXPECT_FALSE(RepackTernaryConv(codes.data(), 4, 4, 3, 4, 4, &p));
  EXPECT_TRUE(RepackTernaryConv(codes.data(), 4, 4, 3, 4, 1, &p));  // invalid code not in slice
}

}  // namespace
}  // namespace ternserve::kernels
