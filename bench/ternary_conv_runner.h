// The ternary side of the per-layer suite: one conv case of models/kernels/conv_cases.h (the data
// the kernel tests check, at the suite's batch), run by a kernel variant on 1 or 2 threads.
//
// RunTernaryConvRows() is the one function that knows how a kernel call covers part of a layer
// (ConvShape's row range), so a change of the kernel API touches only it.
//
// Not thread-safe: a TernaryConvLayer owns its buffers and runs one call at a time. No LibTorch.
#ifndef TERNSERVE_BENCH_TERNARY_CONV_RUNNER_H_
#define TERNSERVE_BENCH_TERNARY_CONV_RUNNER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "bench/worker_pair.h"
#include "models/kernels/conv_cases.h"
#include "models/kernels/conv_kernels.h"

namespace ternserve::bench {

// Runs output rows [row_begin, row_end) of the flattened (image, output row) space of a conv, i.e.
// rows n * out_h + oy, writing them into the full output. Exact for any range.
void RunTernaryConvRows(kernels::TernaryConvFn conv, const kernels::ConvShape& shape,
                        const kernels::ConvInput& input, const kernels::TernaryConvWeights& weights,
                        const kernels::ConvEpilogue& epilogue, int64_t row_begin, int64_t row_end);

class TernaryConvLayer {
 public:
  // MakeConvProblem(c, batch, seed): random ternary codes, a random u8 input (the case's zero
  // point: 73 for the stem) and the case's epilogue, as the engine runs that layer.
  TernaryConvLayer(const kernels::ConvCase& c, int batch, const kernels::TernaryConvKernel& kernel,
                   uint32_t seed);
  TernaryConvLayer(const TernaryConvLayer&) = delete;  // the epilogue points into the buffers
  TernaryConvLayer& operator=(const TernaryConvLayer&) = delete;

  // One forward pass; with `pair`, the rows are split evenly between the caller and the helper.
  void Run(WorkerPair* pair);

  // Runs once (as Run does) and compares the output with the scalar reference's, byte for byte:
  // INTERNAL, naming the first differing element, if they differ.
  absl::Status CheckAgainstScalar(WorkerPair* pair);

 private:
  const kernels::TernaryConvKernel& kernel_;
  kernels::ConvProblem problem_;
  std::vector<uint8_t> out_u8_;
  std::vector<float> out_f32_;
  kernels::ConvEpilogue epilogue_;
  int64_t rows_ = 0;  // batch * out_h
};

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_TERNARY_CONV_RUNNER_H_
