// The per-layer suite: the layer cases of models/kernels/conv_cases.h (every distinct conv shape of
// the SuperNet at full width, with the engine's epilogue; the kernel tests check the same list),
// batch 1, 8 and 32, threads 1 and 2, as three side-by-side columns: the ternary kernel, LibTorch
// fp32 (the fastest of its layouts) and LibTorch int8 on oneDNN, all in GMAC/s. Before anything is
// registered, the ternary kernel is checked against the scalar reference on every (layer, batch,
// threads) it will time, on the same data.
//
// For each (layer, batch, threads) the benchmarks are registered back to back (ternary, fp32
// layouts, int8), so the columns of a row are measured within seconds of each other.
#ifndef TERNSERVE_BENCH_LAYER_SUITE_H_
#define TERNSERVE_BENCH_LAYER_SUITE_H_

#include "absl/status/status.h"
#include "bench/bench_flags.h"
#include "bench/result_table.h"

namespace ternserve::bench {

// Registers the suite's benchmarks and rows (call once, from main, before the benchmarks run; the
// benchmarks create their data when they run). INVALID_ARGUMENT for an unknown --isa,
// FAILED_PRECONDITION for one this CPU lacks, INTERNAL if the kernel's output differs from the
// scalar reference's.
absl::Status RegisterLayerSuite(const BenchOptions& options, ResultTable* table);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_LAYER_SUITE_H_
