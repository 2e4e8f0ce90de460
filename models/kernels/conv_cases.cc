// The conv case list and its data (conv_cases.h).
#include "models/kernels/conv_cases.h"

#include <random>
#include <utility>

#include "models/kernels/ternary_pack.h"

namespace ternserve::kernels {
namespace {

ConvCase Case(std::string name, int kernel, int stride, int side, int in, int out, int batch) {
  ConvCase c;
  c.name = std::move(name);
  c.kernel = kernel;
  c.stride = stride;
  c.in_h = side;
  c.in_w = side;
  c.in_channels = in;
  c.out_channels = out;
  c.batch = batch;
  return c;
}

// The distinct conv shapes of the default ArchConfig at full width, each named after its first
// layer and given that layer's epilogue in TernaryEngine: the stem (zero point 73, the
// Fashion-MNIST normalization's) and conv1 requantize after a ReLU; conv2 adds the block's residual
// (fp32 from the 1x1 shortcut in the stages that have one) before its ReLU; the shortcut outputs
// fp32, no ReLU. conv_cases_test.cc holds this list to SupernetLayers().
void AddLayers(std::vector<ConvCase>* cases) {
  const auto layer = [&](const char* name, int kernel, int stride, int side, int in, int out) {
    ConvCase c = Case(name, kernel, stride, side, in, out, /*batch=*/3);
    c.layer = true;
    cases->push_back(c);
    return &cases->back();
  };
  layer("stem", 3, 1, 28, 1, 32)->zero_point = 73;
  layer("s0.b0.conv1", 3, 1, 28, 32, 32);
  layer("s1.b0.conv1", 3, 2, 28, 32, 64);
  layer("s1.b0.conv2", 3, 1, 14, 64, 64)->residual = Residual::kF32;
  ConvCase* shortcut = layer("s1.b0.shortcut", 1, 2, 28, 32, 64);
  shortcut->relu = false;
  shortcut->u8_output = false;
  layer("s2.b0.conv1", 3, 2, 14, 64, 128);
  layer("s2.b0.conv2", 3, 1, 7, 128, 128)->residual = Residual::kF32;
  shortcut = layer("s2.b0.shortcut", 1, 2, 14, 64, 128);
  shortcut->relu = false;
  shortcut->u8_output = false;
}

// The classifier, a 1x1 conv over a 1x1 image with fp32 logits, at the widths of its sub-nets.
void AddClassifiers(std::vector<ConvCase>* cases) {
  for (int in : {32, 48, 96, 128}) {
    ConvCase c = Case("fc." + std::to_string(in), 1, 1, 1, in, 10, /*batch=*/5);
    c.relu = false;
    c.u8_output = false;
    cases->push_back(c);
  }
}

// Reduces c's batch until the scalar reference's work is at most max_macs (batch >= 1).
void CapBatch(ConvCase* c, int64_t max_macs) {
  while (c->batch > 1 && c->Macs(c->batch) > max_macs) --c->batch;
}

std::string Number(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

// Edge cases, drawn with a fixed seed (rng() % n: the same list on every standard library):
// - "tile": widths that leave a short last tile (out_w % 7), tiny images where every pixel is a
//   border pixel, odd input channel counts (channel padding inside the last group), partial last
//   output blocks, and batches up to 64 (row ranges that span images);
// - "rect": non-square images;
// - "width": the SuperNet's sub-net widths (sliced channels) at its image sizes.
// Every third tile case has a zero point; residuals, ReLU and the output type vary.
void AddEdges(std::vector<ConvCase>* cases) {
  std::mt19937 rng(2024);
  const auto epilogue = [&](ConvCase* c, bool zero_point) {
    c->zero_point = zero_point ? static_cast<int32_t>(1 + rng() % 255) : 0;
    c->residual = static_cast<Residual>(rng() % 3);
    c->relu = rng() % 4 != 0;
    c->u8_output = rng() % 3 != 0;
  };
  const int odd_channels[] = {1, 2, 3, 5, 7, 13, 16, 17, 33, 48, 50};
  const int sides[] = {1, 2, 3, 5, 6, 8, 9, 13, 15, 16, 29};
  int n = 0;
  for (int side : sides) {
    for (int kernel : {3, 1}) {
      for (int stride : {1, 2}) {
        // One draw per statement: the order of a call's arguments is unspecified.
        const int in = odd_channels[rng() % 11];
        const int out = odd_channels[rng() % 11];
        const int batch = n % 4 == 0 ? 64 : 1 + static_cast<int>(rng() % 9);
        ConvCase c = Case("tile." + Number(n), kernel, stride, side, in, out, batch);
        epilogue(&c, n % 3 == 0);
        CapBatch(&c, 8'000'000);
        cases->push_back(c);
        ++n;
      }
    }
  }
  const int rects[][2] = {{9, 5}, {5, 16}, {31, 7}, {2, 13}};
  n = 0;
  for (const auto& hw : rects) {
    for (int stride : {1, 2}) {
      const int in = odd_channels[rng() % 11];
      const int out = odd_channels[rng() % 11];
      const int batch = 1 + static_cast<int>(rng() % 4);
      ConvCase c = Case("rect." + std::to_string(n), n % 3 == 2 ? 1 : 3, stride, 0, in, out, batch);
      c.in_h = hw[0];
      c.in_w = hw[1];
      epilogue(&c, n % 2 == 0);
      cases->push_back(c);
      ++n;
    }
  }
  const int widths[] = {8, 16, 24, 32, 48, 64, 96, 128};
  for (n = 0; n < 24; ++n) {
    const int side = (n % 3 == 0 ? 28 : n % 3 == 1 ? 14 : 7);
    const int stride = 1 + static_cast<int>(rng() % 2);
    const int in = widths[rng() % 8];
    const int out = widths[rng() % 8];
    const int batch = 1 + static_cast<int>(rng() % 4);
    ConvCase c = Case("width." + Number(n), n % 4 == 3 ? 1 : 3, stride, side, in, out, batch);
    epilogue(&c, n % 5 == 0);
    CapBatch(&c, 20'000'000);
    cases->push_back(c);
  }
}

std::vector<ConvCase> BuildCases() {
  std::vector<ConvCase> cases;
  AddLayers(&cases);
  AddClassifiers(&cases);
  AddEdges(&cases);
  return cases;
}

}  // namespace

std::string ConvCase::Shape() const {
  std::string s = std::to_string(kernel) + "x" + std::to_string(kernel) + "/" +
                  std::to_string(stride) + " " + std::to_string(in_channels) + "->" +
                  std::to_string(out_channels) + " " + std::to_string(in_h) + "x" +
                  std::to_string(in_w);
  return s;
}

std::string ConvCase::Describe() const {
  static const char* const kResidual[] = {"", " residual u8", " residual f32"};
  return name + " " + Shape() + " b" + std::to_string(batch) + " z" + std::to_string(zero_point) +
         kResidual[static_cast<int>(residual)] + (relu ? " relu" : "") +
         (u8_output ? " u8" : " f32");
}

const std::vector<ConvCase>& ConvCases() {
  static const std::vector<ConvCase> cases = BuildCases();
  return cases;
}

int64_t ConvProblem::OutElements() const {
  return static_cast<int64_t>(spec.batch) * spec.OutH() * spec.OutW() *
         PaddedChannels(spec.out_channels);
}

ConvInput ConvProblem::Input() const {
  ConvInput in;
  in.data = input.data();
  in.zero_point = spec.zero_point;
  return in;
}

ConvEpilogue ConvProblem::Epilogue(std::vector<uint8_t>* out_u8,
                                   std::vector<float>* out_f32) const {
  ConvEpilogue e;
  e.multiplier = multiplier.data();
  e.bias = bias.data();
  if (spec.residual == Residual::kU8) e.residual_u8 = residual_u8.data();
  if (spec.residual == Residual::kF32) e.residual_f32 = residual_f32.data();
  e.residual_scale = residual_scale;
  e.relu = spec.relu;
  e.out_scale = out_scale;
  if (spec.u8_output) {
    out_u8->assign(OutElements(), 0xAB);
    e.out_u8 = out_u8->data();
  } else {
    out_f32->assign(OutElements(), -12345.0f);
    e.out_f32 = out_f32->data();
  }
  return e;
}

ConvProblem MakeConvProblem(const ConvCase& c, int batch, uint32_t seed) {
  ConvProblem p;
  p.spec = c;
  p.spec.batch = batch;
  p.shape.batch = batch;
  p.shape.in_h = c.in_h;
  p.shape.in_w = c.in_w;
  p.shape.stride = c.stride;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> ternary(-1, 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);

  const int taps = c.kernel * c.kernel;
  p.full_out = c.out_channels + 3;
  p.full_in = c.in_channels + 5;
  const int64_t full_row = static_cast<int64_t>(p.full_in) * taps;
  std::vector<int8_t> full(static_cast<size_t>(p.full_out) * full_row);
  for (int8_t& w : full) w = static_cast<int8_t>(ternary(rng));
  p.codes.assign(PackedMatrixBytes(p.full_out, full_row), 0);
  PackTernary(full.data(), p.full_out, full_row, p.codes.data());
  RepackTernaryConv(p.codes.data(), p.full_out, p.full_in, c.kernel, c.out_channels, c.in_channels,
                    &p.weights);
  // The used slice of each row is its prefix: the input channel is the slowest index of a row.
  const int64_t row = static_cast<int64_t>(c.in_channels) * taps;
  p.t.resize(static_cast<size_t>(c.out_channels) * row);
  for (int o = 0; o < c.out_channels; ++o) {
    for (int64_t i = 0; i < row; ++i) p.t[o * row + i] = full[o * full_row + i];
  }

  const int in_stride = PaddedChannels(c.in_channels);
  p.input.assign(static_cast<size_t>(batch) * c.in_h * c.in_w * in_stride, 0);
  for (size_t i = 0; i < p.input.size(); ++i) {
    if (static_cast<int>(i % in_stride) < c.in_channels)
      p.input[i] = static_cast<uint8_t>(byte(rng));
  }
  p.multiplier.resize(c.out_channels);
  p.bias.resize(c.out_channels);
  for (int o = 0; o < c.out_channels; ++o) {
    p.multiplier[o] = (0.2f + unit(rng)) * 0.002f;
    p.bias[o] = (unit(rng) - 0.4f) * 4.0f;
  }
  const int64_t out_elements = p.OutElements();
  const int out_stride = PaddedChannels(c.out_channels);
  if (c.residual == Residual::kU8) {
    p.residual_u8.assign(out_elements, 0);
    for (int64_t e = 0; e < out_elements; ++e) {
      if (e % out_stride < c.out_channels) p.residual_u8[e] = static_cast<uint8_t>(byte(rng));
    }
  } else if (c.residual == Residual::kF32) {
    p.residual_f32.assign(out_elements, 0.0f);
    for (int64_t e = 0; e < out_elements; ++e) {
      if (e % out_stride < c.out_channels) p.residual_f32[e] = (unit(rng) - 0.5f) * 6.0f;
    }
  }
  p.out_scale = 0.02f + unit(rng) * 0.05f;
  return p;
}

}  // namespace ternserve::kernels
