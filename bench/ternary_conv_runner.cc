#include "bench/ternary_conv_runner.h"

#include <cstdlib>
#include <random>

#include "models/kernels/ternary_pack.h"

namespace ternserve::bench {

using kernels::ConvEpilogue;
using kernels::ConvInput;
using kernels::ConvShape;
using kernels::PackedTernaryConv;
using kernels::PaddedChannels;

void RunTernaryConvRows(kernels::TernaryConvFn conv, const ConvShape& shape, const ConvInput& input,
                        const kernels::TernaryConvWeights& weights, const ConvEpilogue& epilogue,
                        int64_t row_begin, int64_t row_end) {
  ConvShape rows = shape;
  rows.row_begin = row_begin;
  rows.row_end = row_end;
  conv(rows, input, weights, epilogue);
}

TernaryConvLayer::TernaryConvLayer(const ConvLayerShape& shape, int batch,
                                   const kernels::TernaryConvKernel& kernel, uint32_t seed)
    : kernel_(kernel) {
  std::mt19937 rng(seed);
  const int64_t row_length = static_cast<int64_t>(shape.in_channels) * shape.kernel * shape.kernel;
  std::vector<int8_t> codes(static_cast<size_t>(shape.out_channels * row_length));
  std::uniform_int_distribution<int> ternary(-1, 1);
  for (int8_t& t : codes) t = static_cast<int8_t>(ternary(rng));
  std::vector<uint8_t> packed(kernels::PackedMatrixBytes(shape.out_channels, row_length));
  if (!kernels::PackTernary(codes.data(), shape.out_channels, row_length, packed.data()) ||
      !kernels::RepackTernaryConv(packed.data(), shape.out_channels, shape.in_channels,
                                  shape.kernel, shape.out_channels, shape.in_channels, &weights_)) {
    std::abort();  // a bug in this file: the codes and shapes above are valid by construction
  }

  shape_.batch = batch;
  shape_.in_h = shape.in_size;
  shape_.in_w = shape.in_size;
  shape_.stride = shape.stride;
  rows_ = batch * shape.out_size();

  const int in_stride = PaddedChannels(shape.in_channels);
  input_.assign(static_cast<size_t>(batch) * shape.in_size * shape.in_size * in_stride, 0);
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t i = 0; i < input_.size(); ++i) {
    if (static_cast<int>(i % in_stride) < shape.in_channels) input_[i] = byte(rng);
  }
  output_.assign(static_cast<size_t>(rows_) * shape.out_size() * PaddedChannels(shape.out_channels),
                 0);
  std::uniform_real_distribution<float> unit(0.5f, 1.5f);
  multiplier_.resize(shape.out_channels);
  bias_.resize(shape.out_channels);
  for (int o = 0; o < shape.out_channels; ++o) {
    multiplier_[o] = 1e-3f * unit(rng);
    bias_[o] = unit(rng) - 1.0f;
  }
  conv_input_.data = input_.data();
  conv_input_.zero_point = shape.in_channels == 1 ? 73 : 0;  // the stem's input is not post-ReLU
  epilogue_.multiplier = multiplier_.data();
  epilogue_.bias = bias_.data();
  epilogue_.relu = true;
  epilogue_.out_u8 = output_.data();
  epilogue_.out_scale = 0.05f;
}

void TernaryConvLayer::Run(WorkerPair* pair) {
  if (pair == nullptr) {
    RunTernaryConvRows(kernel_.conv, shape_, conv_input_, weights_, epilogue_, 0, rows_);
    return;
  }
  const int64_t half = rows_ / 2;
  pair->Run([&](int part) {
    RunTernaryConvRows(kernel_.conv, shape_, conv_input_, weights_, epilogue_, part == 0 ? 0 : half,
                       part == 0 ? half : rows_);
  });
}

}  // namespace ternserve::bench
