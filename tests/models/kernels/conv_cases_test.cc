// The case list (models/kernels/conv_cases.h) against the architecture it claims to cover: its
// layer cases are exactly the distinct conv shapes of the full-width SuperNet, in order, named
// after their first layer, with the epilogue the engine gives that layer; and every case is one
// the kernels accept.
#include "models/kernels/conv_cases.h"

#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "models/arch.h"

namespace ternserve::kernels {
namespace {

// The distinct (in, out, kernel, stride, input side) of the SuperNet's convs, each named after its
// first layer, from SupernetLayers() alone.
std::vector<ConvCase> DistinctConvShapes(const ArchConfig& arch) {
  std::vector<ConvCase> shapes;
  // Spatial sizes: the current block's input, its conv1 output, the previous block's output. conv1
  // and the shortcut read the block input; conv2 reads conv1's output.
  int block_in = kImageSide, conv1_out = kImageSide, block_out = kImageSide;
  for (const LayerSpec& layer : SupernetLayers(arch)) {
    if (layer.name == "fc") continue;
    int side = kImageSide;
    if (absl::EndsWith(layer.name, "conv1")) {
      block_in = block_out;
      side = block_in;
    } else if (absl::EndsWith(layer.name, "conv2")) {
      side = conv1_out;
    } else if (layer.name != "stem") {  // the shortcut
      side = block_in;
    }
    ConvCase shape;
    shape.name = layer.name;
    shape.kernel = layer.kernel;
    shape.stride = layer.stride;
    shape.in_h = shape.in_w = side;
    shape.in_channels = layer.in_channels;
    shape.out_channels = layer.out_channels;
    if (absl::EndsWith(layer.name, "conv1")) conv1_out = shape.OutH();
    if (absl::EndsWith(layer.name, "conv2") || layer.name == "stem") block_out = shape.OutH();
    const auto key = [](const ConvCase& s) {
      return std::make_tuple(s.in_channels, s.out_channels, s.kernel, s.stride, s.in_h);
    };
    bool seen = false;
    for (const ConvCase& s : shapes) seen = seen || key(s) == key(shape);
    if (!seen) shapes.push_back(shape);
  }
  return shapes;
}

TEST(ConvCasesTest, LayerCasesAreTheSupernetsDistinctConvShapes) {
  const std::vector<ConvCase> want = DistinctConvShapes(ArchConfig{});
  std::vector<const ConvCase*> layers;
  for (const ConvCase& c : ConvCases()) {
    if (c.layer) layers.push_back(&c);
  }
  ASSERT_EQ(layers.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const ConvCase& got = *layers[i];
    EXPECT_EQ(got.name, want[i].name);
    EXPECT_EQ(got.Shape(), want[i].Shape()) << got.name;
    EXPECT_EQ(&got, &ConvCases()[i]) << "layer cases come first";
  }
}

TEST(ConvCasesTest, LayerCasesHaveTheEnginesEpilogue) {
  for (const ConvCase& c : ConvCases()) {
    if (!c.layer) continue;
    if (absl::EndsWith(c.name, "shortcut")) {
      EXPECT_FALSE(c.relu) << c.name;
      EXPECT_FALSE(c.u8_output) << c.name;
      EXPECT_EQ(c.residual, Residual::kNone) << c.name;
      continue;
    }
    EXPECT_TRUE(c.relu) << c.name;
    EXPECT_TRUE(c.u8_output) << c.name;
    EXPECT_EQ(c.zero_point, c.name == "stem" ? 73 : 0) << c.name;
    EXPECT_EQ(c.residual, absl::EndsWith(c.name, "conv2") ? Residual::kF32 : Residual::kNone)
        << c.name;
  }
}

TEST(ConvCasesTest, EveryCaseIsValidAndNamedOnce) {
  std::set<std::string> names;
  int zero_points = 0, short_tiles = 0, rectangles = 0, f32 = 0;
  for (const ConvCase& c : ConvCases()) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    EXPECT_TRUE(c.kernel == 1 || c.kernel == 3) << c.Describe();
    EXPECT_TRUE(c.stride == 1 || c.stride == 2) << c.Describe();
    EXPECT_GE(c.OutH(), 1) << c.Describe();
    EXPECT_GE(c.OutW(), 1) << c.Describe();
    EXPECT_GE(c.batch, 1) << c.Describe();
    EXPECT_GE(c.in_channels, 1) << c.Describe();
    EXPECT_GE(c.out_channels, 1) << c.Describe();
    EXPECT_TRUE(c.zero_point >= 0 && c.zero_point <= 255) << c.Describe();
    zero_points += c.zero_point != 0;
    short_tiles += c.OutW() % 7 != 0;
    rectangles += c.in_h != c.in_w;
    f32 += !c.u8_output;
  }
  // The edges the list exists for are there.
  EXPECT_GE(zero_points, 10);
  EXPECT_GE(short_tiles, 20);
  EXPECT_GE(rectangles, 4);
  EXPECT_GE(f32, 10);
}

TEST(ConvCasesTest, ProblemsAreReproducibleAndSized) {
  const ConvCase& c = ConvCases()[3];
  const ConvProblem a = MakeConvProblem(c, 2, 9), b = MakeConvProblem(c, 2, 9);
  EXPECT_EQ(a.input, b.input);
  EXPECT_EQ(a.codes, b.codes);
  EXPECT_EQ(a.spec.batch, 2);
  EXPECT_EQ(a.OutElements(), int64_t{2} * c.OutH() * c.OutW() * PaddedChannels(c.out_channels));
  EXPECT_EQ(a.input.size(),
            size_t{2} * c.in_h * c.in_w * static_cast<size_t>(PaddedChannels(c.in_channels)));
  EXPECT_NE(MakeConvProblem(c, 2, 10).input, a.input);
  for (int o = 0; o < c.out_channels; ++o) {
    for (int i = 0; i < c.in_channels; ++i) {
      for (int tap = 0; tap < c.kernel * c.kernel; ++tap) {
        ASSERT_EQ(a.weights.At(o, i, tap),
                  a.t[(o * c.in_channels + i) * c.kernel * c.kernel + tap]);
      }
    }
  }
}

}  // namespace
}  // namespace ternserve::kernels
