// The CUDA kernels' per-thread bodies (models/kernels/cuda/ternary_cuda_body.h) run on the CPU over
// their whole launch grid, block by block and thread by thread, against the CPU references, bit
// for bit: the conv against TernaryConvScalar on every case of the case list and on random shapes
// (whole tensors, sliced views, row ranges), the stem quantization against QuantizeStemInput, the
// pool against the engine's. Also the launch geometry (every output element owned by exactly one
// thread, nothing written outside the output) and the weight expansion on every nibble pair.
// Built in every configuration: it needs no GPU and no CUDA toolkit. What it cannot check is the
// device side of the three primitives (dp4a, the _rn float intrinsics, rintf); cuda_kernels_test
// does that on a device.
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/conv_cases.h"
#include "models/kernels/conv_kernels.h"
#include "models/kernels/conv_params.h"
#include "models/kernels/cuda/ternary_cuda_body.h"
#include "models/kernels/ternary_blocks.h"
#include "tests/models/kernels/conv_checks.h"
#include "tests/models/kernels/cuda_checks.h"

namespace ternserve::kernels::cuda {
namespace {

using G = ConvLaunchGeometry;
using testing::Output;
using testing::RandomConvCases;
using testing::RowCuts;
using testing::Rows;
using testing::RunScalar;
using testing::SameOutput;

// ---- Emulated launches: the grid of ternary_cuda.cu's launches, one body call per thread. ----

void EmulateConv(const ConvShape& shape, const ConvInput& input, const TernaryConvWeights& weights,
                 const ConvEpilogue& epilogue) {
  const ConvKernelParams p = MakeConvKernelParams(shape, input, weights, epilogue);
  for (int64_t block = 0; block < p.geometry.blocks; ++block) {
    for (int thread = 0; thread < G::kThreadsPerBlock; ++thread) {
      if (weights.kernel == 3) {
        TernaryConvThread<3>(p, block, thread);
      } else {
        TernaryConvThread<1>(p, block, thread);
      }
    }
  }
}

int64_t ElementwiseBlocks(int64_t elements) {
  return (elements + kElementwiseThreadsPerBlock - 1) / kElementwiseThreadsPerBlock;
}

// An output buffer with poisoned guard zones on both sides: a write outside the output shows. A
// guard holds more than a thread's whole tile (7 pixels x 128 channels), so a thread's overrun
// lands in it rather than in someone else's memory.
template <typename T>
class Guarded {
 public:
  static constexpr size_t kGuard = 4096;
  Guarded(int64_t elements, T poison) : poison_(poison), data_(elements + 2 * kGuard, poison) {}
  T* data() { return data_.data() + kGuard; }
  std::vector<T> Output() const {
    return std::vector<T>(data_.begin() + kGuard, data_.end() - kGuard);
  }
  bool GuardsIntact() const {
    for (size_t i = 0; i < kGuard; ++i) {
      if (std::memcmp(&data_[i], &poison_, sizeof(T)) != 0 ||
          std::memcmp(&data_[data_.size() - 1 - i], &poison_, sizeof(T)) != 0) {
        return false;
      }
    }
    return true;
  }

 private:
  T poison_;
  std::vector<T> data_;
};

// The emulated conv of `p` with `weights` over the row ranges `cuts` into poisoned, guarded
// buffers; fails if a guard was written.
::testing::AssertionResult EmulateInto(const ConvProblem& p, const TernaryConvWeights& weights,
                                       const std::vector<int64_t>& cuts, Output* got) {
  const int64_t elements = p.OutElements();
  Guarded<uint8_t> u8(elements, 0xAB);
  Guarded<float> f32(elements, -12345.0f);
  std::vector<uint8_t> unused_u8;
  std::vector<float> unused_f32;
  ConvEpilogue e = p.Epilogue(&unused_u8, &unused_f32);
  if (e.out_u8 != nullptr) e.out_u8 = u8.data();
  if (e.out_f32 != nullptr) e.out_f32 = f32.data();
  for (size_t j = 0; j + 1 < cuts.size(); ++j) {
    EmulateConv(Rows(p.shape, cuts[j], cuts[j + 1]), p.Input(), weights, e);
  }
  if (!u8.GuardsIntact() || !f32.GuardsIntact()) {
    return ::testing::AssertionFailure() << "a thread wrote outside the output";
  }
  got->u8 = p.spec.u8_output ? u8.Output() : std::vector<uint8_t>();
  got->f32 = p.spec.u8_output ? std::vector<float>() : f32.Output();
  return ::testing::AssertionSuccess();
}

// The whole shape on the slice repacked on its own, then a sliced view of the wider pack over 1
// to 4 row ranges, against the scalar reference.
void CheckCase(const ConvCase& c, int batch, uint32_t seed, std::mt19937* rng) {
  const ConvProblem p = MakeConvProblem(c, batch, seed);
  const Output want = RunScalar(p);
  Output got;
  ASSERT_TRUE(EmulateInto(p, p.weights, {0, p.shape.Rows(c.kernel)}, &got)) << c.Describe();
  ASSERT_TRUE(SameOutput(p, got.u8, got.f32, want.u8, want.f32)) << p.spec.Describe();

  PackedTernaryConv full;
  ASSERT_TRUE(RepackTernaryConv(p.codes.data(), p.full_out, p.full_in, c.kernel, p.full_out,
                                p.full_in, &full));
  TernaryConvWeights view;
  ASSERT_TRUE(SliceTernaryConv(full, c.out_channels, c.in_channels, &view));
  ASSERT_FALSE(view.full_in);
  const std::vector<int64_t> cuts = RowCuts(p.shape.Rows(c.kernel), rng);
  ASSERT_TRUE(EmulateInto(p, view, cuts, &got)) << "sliced view, " << p.spec.Describe();
  ASSERT_TRUE(SameOutput(p, got.u8, got.f32, want.u8, want.f32))
      << "sliced view, " << cuts.size() - 1 << " row ranges, " << p.spec.Describe();
}

// ---- Weight expansion. ----

int8_t ByteOf(uint32_t word, int j) {
  const int v = static_cast<int>((word >> (8 * j)) & 0xFF);
  return static_cast<int8_t>(v < 128 ? v : v - 256);
}

TEST(CudaBodyTest, SpreadNibbleMovesBitJToByteJ) {
  for (uint32_t n = 0; n < 16; ++n) {
    uint32_t want = 0;
    for (int j = 0; j < 4; ++j) want |= ((n >> j) & 1u) << (8 * j);
    EXPECT_EQ(SpreadNibble(n), want) << n;
  }
}

// Every (plus, minus) nibble pair, overlapping ones included, as WeightBlock::At reads it.
TEST(CudaBodyTest, ExpandWeightNibblesMatchesBlockAtOnAllPairs) {
  int disjoint = 0;
  for (uint32_t plus = 0; plus < 16; ++plus) {
    for (uint32_t minus = 0; minus < 16; ++minus) {
      WeightBlock b;
      b.plus = plus;
      b.minus = minus;
      const uint32_t word = ExpandWeightNibbles(plus, minus);
      for (int j = 0; j < 4; ++j) {
        ASSERT_EQ(ByteOf(word, j), b.At(0, j)) << "plus " << plus << " minus " << minus;
      }
      if ((plus & minus) == 0) {
        EXPECT_EQ(ExpandDisjointNibbles(plus, minus), word) << plus << " " << minus;
        ++disjoint;
      }
    }
  }
  EXPECT_EQ(disjoint, 81);  // 3^4 valid nibble pairs
}

// A quad's 16 bits of random blocks (overlapping bits included), every quad and every count of
// valid inputs in the last group: what the conv body expands.
TEST(CudaBodyTest, LoadWeightQuadMatchesBlockAt) {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    WeightBlock b;
    b.plus = rng();
    b.minus = rng() & (trial % 2 == 0 ? ~b.plus : ~uint64_t{0});
    for (int quad = 0; quad < kBlockOut / 4; ++quad) {
      for (int inputs = 1; inputs <= 4; ++inputs) {
        const WeightQuad q = LoadWeightQuad(b, quad, ((1u << inputs) - 1) * 0x1111u);
        ASSERT_EQ(q.plus & q.minus, 0u);
        for (int c = 0; c < 4; ++c) {
          const uint32_t word =
              ExpandDisjointNibbles((q.plus >> (4 * c)) & 0xF, (q.minus >> (4 * c)) & 0xF);
          for (int j = 0; j < 4; ++j) {
            const int8_t want = j < inputs ? b.At(4 * quad + c, j) : 0;
            ASSERT_EQ(ByteOf(word, j), want) << "quad " << quad << " channel " << c << " in " << j;
          }
        }
      }
    }
  }
}

// The host side of dp4a against its definition, extremes included.
TEST(CudaBodyTest, Dp4aEmulationIsTheByteDotProduct) {
  std::mt19937 rng(11);
  const uint32_t edges[] = {0u, 0xFFFFFFFFu, 0x80808080u, 0x7F7F7F7Fu, 0x01FF01FFu};
  for (int trial = 0; trial < 2000; ++trial) {
    const uint32_t a = trial < 25 ? edges[trial % 5] : rng();
    const uint32_t b = trial < 25 ? edges[trial / 5] : rng();
    const int32_t c = static_cast<int32_t>(rng() % 2000001) - 1000000;
    int32_t want = c;
    for (int i = 0; i < 4; ++i) {
      want += static_cast<int32_t>((a >> (8 * i)) & 0xFF) * ByteOf(b, i);
    }
    ASSERT_EQ(Dp4aU8S8(a, b, c), want) << std::hex << a << " " << b;
  }
}

// The conv epilogue on its edge values against conv_params.h's EpilogueValue and RequantizeU8, as
// bits: -0 and +0 (ReLU must give +0), NaN and infinities (ReLU gives 0), ties of the u8 rounding,
// saturation, both residuals, and the zeroed padding channels.
TEST(CudaBodyTest, ConvEpilogueMatchesConvParamsOnEdgeValues) {
  const float kNan = std::numeric_limits<float>::quiet_NaN();
  const float kInf = std::numeric_limits<float>::infinity();
  const int32_t accs[] = {0, 1, -1, 5, -7, 262143, -262143, 12};
  const float multipliers[] = {-0.5f, 0.5f, 1.0f, -0.0f, 1e-3f, kInf, kNan, 3.0f};  // o 0: -0
  const float biases[] = {-0.0f, 0.0f, 0.25f, -2.5f, 1e9f, -kInf, 0.5f, 1.5f};
  const float residual_f32[] = {-0.0f, 0.0f, 2.0f, -2.0f, kNan, 0.5f, -0.5f, 1.0f};
  const uint8_t residual_u8[] = {0, 1, 2, 255, 128, 7, 3, 9};
  for (int residual = 0; residual < 3; ++residual) {
    for (int relu = 0; relu < 2; ++relu) {
      for (int u8 = 0; u8 < 2; ++u8) {
        for (int out_channels : {2, 3, 4, 8}) {
          ConvEpilogue e;
          e.multiplier = multipliers;
          e.bias = biases;
          if (residual == 1) e.residual_u8 = residual_u8;
          if (residual == 2) e.residual_f32 = residual_f32;
          e.residual_scale = 0.5f;
          e.relu = relu != 0;
          e.out_scale = 0.5f;  // ties: y = k + 0.25 quantizes to k * 2 + 0.5
          uint8_t got_u8[8];
          float got_f32[8];
          if (u8 != 0) e.out_u8 = got_u8;
          if (u8 == 0) e.out_f32 = got_f32;
          TernaryConvWeights w;
          w.kernel = 1;
          w.out_channels = out_channels;
          w.in_channels = 1;
          w.in_groups = w.group_stride = w.out_blocks = 1;
          ConvShape shape;
          shape.in_h = shape.in_w = 1;
          const ConvKernelParams p = MakeConvKernelParams(shape, ConvInput{}, w, e);
          StoreConvOutputs(p, 0, accs, 0);
          StoreConvOutputs(p, 4, accs + 4, 4);
          for (int o = 0; o < PaddedChannels(out_channels); ++o) {
            const float y = o < out_channels ? EpilogueValue(accs[o], o, o, e) : 0.0f;
            if (u8 != 0) {
              const uint8_t want = o < out_channels ? RequantizeU8(y, 1.0f / e.out_scale) : 0;
              ASSERT_EQ(got_u8[o], want) << "channel " << o;
            } else {
              uint32_t got_bits, want_bits;
              std::memcpy(&got_bits, &got_f32[o], 4);
              std::memcpy(&want_bits, &y, 4);
              ASSERT_EQ(got_bits, want_bits) << "channel " << o << ": " << got_f32[o] << " " << y;
            }
          }
        }
      }
    }
  }
}

// ---- Launch geometry. ----

// Every output element of the row range is owned by exactly one active thread; no thread owns
// anything outside it; the grid has no spare block.
TEST(CudaBodyTest, ConvGridCoversEveryOutputExactlyOnce) {
  std::mt19937 rng(5);
  int checked = 0;
  for (const ConvCase& c : RandomConvCases(120, 21, 1'000'000)) {
    ConvShape shape;
    shape.batch = c.batch;
    shape.in_h = c.in_h;
    shape.in_w = c.in_w;
    shape.stride = c.stride;
    const int64_t rows = shape.Rows(c.kernel);
    const std::vector<int64_t> cuts = RowCuts(rows, &rng);
    TernaryConvWeights w;
    w.kernel = c.kernel;
    w.out_channels = c.out_channels;
    w.in_channels = c.in_channels;
    w.out_blocks = (c.out_channels + kBlockOut - 1) / kBlockOut;
    w.in_groups = w.group_stride = (c.in_channels + kBlockIn - 1) / kBlockIn;
    const int out_w = shape.OutW(c.kernel);
    const int out_stride = PaddedChannels(c.out_channels);
    const int64_t elements = rows * out_w * out_stride;
    std::vector<int> writes(elements, 0);
    for (size_t j = 0; j + 1 < cuts.size(); ++j) {
      const ConvShape part = Rows(shape, cuts[j], cuts[j + 1]);
      ConvEpilogue e;
      const ConvKernelParams p = MakeConvKernelParams(part, ConvInput{}, w, e);
      const G& g = p.geometry;
      ASSERT_EQ(g.threads, (cuts[j + 1] - cuts[j]) * g.quads * g.pixel_groups);
      ASSERT_GE(g.blocks * G::kThreadsPerBlock, g.threads);
      ASSERT_LT((g.blocks - 1) * G::kThreadsPerBlock, std::max<int64_t>(g.threads, 1));
      for (int64_t block = 0; block < g.blocks; ++block) {
        for (int thread = 0; thread < G::kThreadsPerBlock; ++thread) {
          const ConvThreadWork work = MapConvThread(p, block, thread);
          if (!work.active) continue;
          ASSERT_GE(work.row, cuts[j]);
          ASSERT_LT(work.row, cuts[j + 1]);
          ASSERT_GE(work.pixels, 1);
          ASSERT_LE(work.ox0 + work.pixels, out_w);
          ASSERT_LT(work.quad * 4, out_stride);
          for (int i = 0; i < work.pixels; ++i) {
            for (int ch = 0; ch < 4; ++ch) {
              ++writes[(work.row * out_w + work.ox0 + i) * out_stride + work.quad * 4 + ch];
            }
          }
        }
      }
    }
    for (int64_t e = 0; e < elements; ++e) {
      ASSERT_EQ(writes[e], 1) << "element " << e << " of " << c.Describe();
    }
    ++checked;
  }
  EXPECT_EQ(checked, 120);
}

// ---- The conv, bit for bit. ----

TEST(CudaBodyTest, ConvMatchesScalarOnEveryCase) {
  std::mt19937 rng(99);
  uint32_t seed = 1;
  for (const ConvCase& c : ConvCases()) {
    std::vector<int> batches = {c.batch};
    if (c.layer) batches.push_back(1);
    for (int batch : batches) {
      CheckCase(c, batch, seed++, &rng);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(CudaBodyTest, ConvMatchesScalarOnRandomShapes) {
  std::mt19937 rng(7);
  uint32_t seed = 1000;
  int zero_points = 0, strided = 0, one_by_one = 0, large_batches = 0;
  for (const ConvCase& c : RandomConvCases(60, 17, 3'000'000)) {
    CheckCase(c, c.batch, seed++, &rng);
    if (HasFatalFailure()) return;
    zero_points += c.zero_point != 0;
    strided += c.stride == 2;
    one_by_one += c.kernel == 1;
    large_batches += c.batch >= 32;
  }
  // The draw covers what it should (a changed generator must keep it so).
  EXPECT_GE(zero_points, 10);
  EXPECT_GE(strided, 20);
  EXPECT_GE(one_by_one, 20);
  EXPECT_GE(large_batches, 5);
}

// The classifier as a 1x1 conv over a 1x1 image, at the engine's batch limit.
TEST(CudaBodyTest, LinearMatchesScalar) {
  std::mt19937 rng(13);
  for (int in : {1, 5, 32, 127, 128}) {
    const ConvCase c = testing::LinearCase(in);
    CheckCase(c, 64, static_cast<uint32_t>(in), &rng);
    if (HasFatalFailure()) return;
  }
}

// ---- Stem quantization and pool. ----

TEST(CudaBodyTest, QuantizeStemInputMatchesHost) {
  std::mt19937 rng(17);
  for (const auto& mean_std : testing::kStemMeanStd) {
    const float mean = mean_std[0], std = mean_std[1];
    const StemQuantization q = StemInputQuantization(mean, std);
    for (int count : {1, 255, 256, 257, 3 * 784}) {
      const std::vector<float> pixels = testing::StemPixels(count, mean, &rng);
      std::vector<uint8_t> want(static_cast<size_t>(count) * kChannelAlign);
      QuantizeStemInput(pixels.data(), count, mean, std, q, want.data());
      Guarded<uint8_t> got(static_cast<int64_t>(count) * kChannelAlign, 0xAB);
      for (int64_t block = 0; block < ElementwiseBlocks(count); ++block) {
        for (int thread = 0; thread < kElementwiseThreadsPerBlock; ++thread) {
          QuantizeStemInputThread(pixels.data(), count, mean, std, q, got.data(), block, thread);
        }
      }
      ASSERT_TRUE(got.GuardsIntact());
      ASSERT_EQ(got.Output(), want) << "mean " << mean << " std " << std << " count " << count;
    }
  }
}

TEST(CudaBodyTest, AveragePoolMatchesEngine) {
  std::mt19937 rng(19);
  struct PoolCase {
    int batch, pixels, channels;
    float to_pool;
  };
  const PoolCase cases[] = {
      {1, 49, 128, 0.037f / (49 * 0.05f)},
      {64, 49, 96, 0.021f / (49 * 0.03f)},
      {3, 1, 1, 1.0f},
      {5, 2, 17, 0.5f},  // odd sums * 0.5: half steps
      {7, 16, 33, 0.002f},
      {2, 4, 5, 100.0f},  // 100: saturates
  };
  for (const PoolCase& c : cases) {
    const std::vector<uint8_t> h = testing::RandomFeatures(c.batch, c.pixels, c.channels, &rng);
    const std::vector<uint8_t> want =
        testing::ReferenceAveragePoolU8(h, c.batch, c.pixels, c.channels, c.to_pool);
    Guarded<uint8_t> got(static_cast<int64_t>(want.size()), 0xAB);
    for (int64_t block = 0; block < ElementwiseBlocks(want.size()); ++block) {
      for (int thread = 0; thread < kElementwiseThreadsPerBlock; ++thread) {
        AveragePoolU8Thread(h.data(), c.batch, c.pixels, c.channels, c.to_pool, got.data(), block,
                            thread);
      }
    }
    ASSERT_TRUE(got.GuardsIntact());
    ASSERT_EQ(got.Output(), want) << c.batch << "x" << c.pixels << "x" << c.channels;
  }
}

}  // namespace
}  // namespace ternserve::kernels::cuda
