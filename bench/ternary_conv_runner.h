// The ternary side of the per-layer suite: one conv layer of the SuperNet with random ternary
// weights and random u8 activations, run by a kernel variant on 1 or 2 threads.
//
// RunTernaryConvRows() is the one function that knows how a kernel call covers part of a layer
// (ConvShape's row range), so a change of the kernel API touches only it.
//
// Not thread-safe: a TernaryConvLayer owns its buffers and runs one call at a time. No LibTorch.
#ifndef TERNSERVE_BENCH_TERNARY_CONV_RUNNER_H_
#define TERNSERVE_BENCH_TERNARY_CONV_RUNNER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "bench/layer_shapes.h"
#include "bench/worker_pair.h"
#include "models/kernels/conv_kernels.h"

namespace ternserve::bench {

// Runs output rows [row_begin, row_end) of the flattened (image, output row) space of a conv, i.e.
// rows n * out_h + oy, writing them into the full output. Exact for any range.
void RunTernaryConvRows(kernels::TernaryConvFn conv, const kernels::ConvShape& shape,
                        const kernels::ConvInput& input, const kernels::TernaryConvWeights& weights,
                        const kernels::ConvEpilogue& epilogue, int64_t row_begin, int64_t row_end);

class TernaryConvLayer {
 public:
  // Random codes (about 1/3 zeros, as trained ternary nets have), random u8 input with the stem's
  // non-zero zero point for the 1-channel stem, u8 output with ReLU as conv1 of a block runs.
  TernaryConvLayer(const ConvLayerShape& shape, int batch, const kernels::TernaryConvKernel& kernel,
                   uint32_t seed);

  // One forward pass; with `pair`, the rows are split evenly between the caller and the helper.
  void Run(WorkerPair* pair);

 private:
  const kernels::TernaryConvKernel& kernel_;
  kernels::ConvShape shape_;
  kernels::PackedTernaryConv weights_;
  std::vector<uint8_t> input_;
  std::vector<uint8_t> output_;
  std::vector<float> multiplier_;
  std::vector<float> bias_;
  kernels::ConvInput conv_input_;
  kernels::ConvEpilogue epilogue_;
  int64_t rows_ = 0;  // batch * out_h
};

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_TERNARY_CONV_RUNNER_H_
