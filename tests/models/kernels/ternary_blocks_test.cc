// Tests of the kernel weight layout: slicing, zero padding, tap sums, rejection of bad input.
#include "models/kernels/ternary_blocks.h"

#include <random>
#include <utility>
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
            for (int i = 0; i < p.in_groups * kBlockIn; ++i) {
              const int8_t expected =
                  o < out && i < in ? t[(static_cast<size_t>(o) * full_in + i) * taps + tap] : 0;
              const int8_t got =
                  p.Block(o / kBlockOut, tap, i / kBlockIn)->At(o % kBlockOut, i % kBlockIn);
              ASSERT_EQ(got, expected) << "k" << kernel << " " << in << "->" << out << " o" << o
                                       << " i" << i << " tap" << tap;
              ASSERT_EQ(p.At(o, i, tap), expected);
            }
          }
        }
      }
    }
  }
}

// A block's bit 4 * lane + j is byte 4 * lane + j of the expanded register (what the SIMD kernels
// rely on), and a pack costs 2 bits per weight (16x below fp32) plus its header.
TEST(TernaryBlocksTest, BlocksAreTwoBitMasksInRegisterByteOrder) {
  WeightBlock b;
  b.Set(3, 2, 1);
  b.Set(15, 3, -1);
  EXPECT_EQ(b.plus, uint64_t{1} << 14);
  EXPECT_EQ(b.minus, uint64_t{1} << 63);
  EXPECT_EQ(b.At(3, 2), 1);
  EXPECT_EQ(b.At(15, 3), -1);
  b.Set(3, 2, 0);
  EXPECT_EQ(b.plus, 0u);

  std::mt19937 rng(3);
  std::uniform_int_distribution<int> value(-1, 1);
  std::vector<int8_t> t(128 * 128 * 9);
  for (int8_t& x : t) x = static_cast<int8_t>(value(rng));
  std::vector<uint8_t> codes(PackedMatrixBytes(128, 128 * 9));
  ASSERT_TRUE(PackTernary(t.data(), 128, 128 * 9, codes.data()));
  PackedTernaryConv p;
  ASSERT_TRUE(RepackTernaryConv(codes.data(), 128, 128, 3, 128, 128, &p));
  const size_t fp32_bytes = 128 * 128 * 9 * sizeof(float);
  EXPECT_EQ(p.block_count() * sizeof(WeightBlock), fp32_bytes / 16);
  EXPECT_LE(p.bytes(), fp32_bytes / 16 + 256);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p.blocks) % alignof(WeightBlock), 0u);
}

// A pack is the whole-layer view of its own blocks, also after a copy or a move (the engine keeps
// its packs in a map and hands them to the kernels as views).
TEST(TernaryBlocksTest, CopiesAndMovesViewTheirOwnBlocks) {
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> value(-1, 1);
  std::vector<int8_t> t(40 * 24 * 9);
  for (int8_t& x : t) x = static_cast<int8_t>(value(rng));
  std::vector<uint8_t> codes(PackedMatrixBytes(40, 24 * 9));
  ASSERT_TRUE(PackTernary(t.data(), 40, 24 * 9, codes.data()));
  PackedTernaryConv p;
  ASSERT_TRUE(RepackTernaryConv(codes.data(), 40, 24, 3, 40, 24, &p));
  const TernaryConvWeights& view = p;
  EXPECT_EQ(view.blocks, p.blocks);
  EXPECT_EQ(view.group_stride, p.in_groups);
  EXPECT_TRUE(view.full_in);

  PackedTernaryConv copy = p;
  EXPECT_NE(copy.blocks, p.blocks);
  PackedTernaryConv assigned;
  assigned = copy;
  EXPECT_NE(assigned.blocks, copy.blocks);
  const WeightBlock* before = copy.blocks;
  PackedTernaryConv moved = std::move(copy);
  EXPECT_EQ(moved.blocks, before);
  EXPECT_EQ(copy.blocks, nullptr);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(copy.out_channels, 0);
  for (const PackedTernaryConv* q : {&p, &assigned, &moved}) {
    for (int o = 0; o < 40; ++o) {
      for (int i = 0; i < 24; ++i) {
        for (int tap = 0; tap < 9; ++tap) {
          ASSERT_EQ(q->At(o, i, tap), t[(static_cast<size_t>(o) * 24 + i) * 9 + tap]);
        }
      }
    }
  }
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

TEST(TernaryBlocksTest, SliceRefusesSlicesLargerThanThePack) {
  std::vector<uint8_t> codes(PackedMatrixBytes(16, 8 * 9), 0);
  PackedTernaryConv full;
  ASSERT_TRUE(RepackTernaryConv(codes.data(), 16, 8, 3, 16, 8, &full));
  TernaryConvWeights view;
  EXPECT_FALSE(SliceTernaryConv(full, 17, 8, &view));
  EXPECT_FALSE(SliceTernaryConv(full, 16, 9, &view));
  EXPECT_FALSE(SliceTernaryConv(full, 0, 8, &view));
  ASSERT_TRUE(SliceTernaryConv(full, 16, 7, &view));
  EXPECT_FALSE(view.full_in);
  EXPECT_EQ(view.in_groups, 2);
  EXPECT_EQ(view.group_stride, 2);
  ASSERT_TRUE(SliceTernaryConv(full, 16, 8, &view));
  EXPECT_TRUE(view.full_in);
}

}  // namespace
}  // namespace ternserve::kernels
