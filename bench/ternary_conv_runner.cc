#include "bench/ternary_conv_runner.h"

#include <algorithm>
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
                        const PackedTernaryConv& weights, const ConvEpilogue& epilogue,
                        int row_begin, int row_end) {
  const int k = weights.kernel;
  const int out_h = shape.OutH(k);
  const int64_t in_row_bytes =
      static_cast<int64_t>(shape.in_w) * PaddedChannels(weights.in_channels);
  const int64_t out_row_elems =
      static_cast<int64_t>(shape.OutW(k)) * PaddedChannels(weights.out_channels);
  // Calls the kernel on output rows [first, first + count) of image n, or on `images` whole images.
  const auto call = [&](int n, int first, int count, int images) {
    ConvShape part = shape;
    ConvInput part_input = input;
    ConvEpilogue part_epilogue = epilogue;
    const int64_t in_row = static_cast<int64_t>(n) * shape.in_h + first * shape.stride;
    const int64_t out_row = static_cast<int64_t>(n) * out_h + first;
    part.batch = images;
    if (images == 1 && count < out_h) {
      // A band: enough input rows that OutH() == count (see the header on the seam rows).
      part.in_h = std::min(count * shape.stride, shape.in_h - first * shape.stride);
    }
    part_input.data += in_row * in_row_bytes;
    if (epilogue.out_u8 != nullptr) part_epilogue.out_u8 += out_row * out_row_elems;
    if (epilogue.out_f32 != nullptr) part_epilogue.out_f32 += out_row * out_row_elems;
    if (epilogue.residual_u8 != nullptr) part_epilogue.residual_u8 += out_row * out_row_elems;
    if (epilogue.residual_f32 != nullptr) part_epilogue.residual_f32 += out_row * out_row_elems;
    conv(part, part_input, weights, part_epilogue);
  };
  int row = row_begin;
  while (row < row_end) {
    const int n = row / out_h;
    const int oy = row % out_h;
    if (oy == 0 && row + out_h <= row_end) {  // a run of whole images
      const int images = (row_end - row) / out_h;
      call(n, 0, out_h, images);
      row += images * out_h;
    } else {
      const int count = std::min(out_h - oy, row_end - row);
      call(n, oy, count, 1);
      row += count;
    }
  }
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
  const int half = rows_ / 2;
  pair->Run([&](int part) {
    RunTernaryConvRows(kernel_.conv, shape_, conv_input_, weights_, epilogue_, part == 0 ? 0 : half,
                       part == 0 ? half : rows_);
  });
}

}  // namespace ternserve::bench
