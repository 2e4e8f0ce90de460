// The one list of ternary conv cases, as in ggml's test-backend-ops: the kernel tests and the layer
// benchmark read the same declarations.
//
// - tests/models/kernels/conv_scalar_test.cc checks the scalar reference against a naive int32
//   convolution on every case, and conv_variants_test.cc every other variant of the kernel table
//   against the scalar reference, bit for bit, on every case;
// - ternserve-bench's layer suite (bench/layer_suite.cc) times the cases that are SuperNet layers
//   (ConvCase::layer), after checking the kernel it times on them.
// So a benchmarked shape is always a tested one, and adding a case adds it to both.
//
// The list lives here, beside the kernels it describes, because both tests/ and bench/ use it and
// neither should include the other. It is its own library (ternserve_conv_cases): the tests and the
// benchmark link it, the server does not. Value types; ConvCases() is immutable after its first
// call (thread-safe). libc/libstdc++ only.
#ifndef TERNSERVE_MODELS_KERNELS_CONV_CASES_H_
#define TERNSERVE_MODELS_KERNELS_CONV_CASES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "models/kernels/conv_params.h"
#include "models/kernels/ternary_blocks.h"

namespace ternserve::kernels {

enum class Residual { kNone, kU8, kF32 };

// One conv problem, without its data: the geometry and the epilogue's options.
struct ConvCase {
  // A SuperNet layer's name ("s1.b0.conv2"), or "<group>.<n>" for the others ("tile.07").
  std::string name;
  // A distinct conv shape of the full-width SuperNet, named after its first layer, with the
  // epilogue TernaryEngine runs it with. The layer suite times these.
  bool layer = false;
  int kernel = 3;  // 3 (padding 1) or 1 (padding 0)
  int stride = 1;  // 1 or 2
  int in_h = 0;
  int in_w = 0;
  int in_channels = 0;
  int out_channels = 0;
  int batch = 1;  // the tests' batch; the layer suite runs its own
  int32_t zero_point = 0;
  Residual residual = Residual::kNone;
  bool relu = true;
  bool u8_output = true;  // else float

  int OutH() const { return (in_h + 2 * (kernel / 2) - kernel) / stride + 1; }
  int OutW() const { return (in_w + 2 * (kernel / 2) - kernel) / stride + 1; }
  // Useful multiply-accumulates (in-bounds and padding taps alike) of `batch` images.
  int64_t Macs(int batch) const {
    return static_cast<int64_t>(batch) * OutH() * OutW() * out_channels * in_channels * kernel *
           kernel;
  }
  // "3x3/2 32->64 28x28"
  std::string Shape() const;
  // The name, shape, batch and epilogue: "tile.07 3x3/2 5->17 13x13 b4 z37 residual u8 relu f32".
  std::string Describe() const;
};

// Every case: the SuperNet's layers first (in execution order), then the classifier, then the edge
// cases of the tile walk and epilogue (conv_pixel_loop.h, conv_params.h), drawn with a fixed seed.
const std::vector<ConvCase>& ConvCases();

// The data of a case at a batch: random ternary weights drawn at a wider full shape (+3 outputs,
// +5 inputs), packed to bundle codes and repacked as the used slice, so slicing is exercised; a
// random u8 input (channel padding 0); a random epilogue. The same (case, batch, seed) gives the
// same data.
struct ConvProblem {
  ConvCase spec;  // spec.batch is the problem's batch
  ConvShape shape;
  std::vector<int8_t> t;       // [out_channels][in_channels][kernel][kernel], the used slice
  std::vector<uint8_t> codes;  // bundle codes of the full layer [full_out][full_in * k * k]
  int full_out = 0;
  int full_in = 0;
  PackedTernaryConv weights;   // the used slice, repacked on its own
  std::vector<uint8_t> input;  // NHWC, channel stride PaddedChannels(in_channels)
  std::vector<float> multiplier;
  std::vector<float> bias;
  std::vector<uint8_t> residual_u8;  // output-shaped, if spec.residual is kU8
  std::vector<float> residual_f32;   // output-shaped, if spec.residual is kF32
  float residual_scale = 0.05f;
  float out_scale = 0.05f;

  int64_t OutElements() const;  // batch * out_h * out_w * PaddedChannels(out_channels)
  ConvInput Input() const;
  // The case's epilogue writing into *out_u8 or *out_f32 (whichever the case outputs), which it
  // resizes to OutElements() and poisons, so that a kernel must write every element.
  ConvEpilogue Epilogue(std::vector<uint8_t>* out_u8, std::vector<float>* out_f32) const;
};

ConvProblem MakeConvProblem(const ConvCase& c, int batch, uint32_t seed);

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_CONV_CASES_H_
