// The CUDA end-to-end suite (ternserve-bench --engine=cuda; CUDA builds only): every sub-net of the
// bundle at batch 1, 8 and 32, CudaEngine (graphs on) in ms per batch next to TernaryEngine on the
// CPU (--e2e_threads threads), plus one row of device weight bytes. Rows carry the CPU suite's
// fields (subnet, subnet_name, macs, batch, threads, isa, input, top-1 agreement, agree_images)
// with isa the GPU's ("sm_90") and the device named.
//
// Before anything is timed, CudaEngine's top-1 class is checked against TernaryEngine's on the
// first kAgreementImages test images (the kernels are bit-exact, so anything below
// kMinTop1Agreement fails the run, exit 1). The other GPU contestants are null columns
// with a note saying why: torch_fp16 (Debian's LibTorch is built without CUDA) and cudnn_fp16 /
// cudnn_int8 (not written yet; docs/cuda.md).
#ifndef TERNSERVE_BENCH_CUDA_E2E_SUITE_H_
#define TERNSERVE_BENCH_CUDA_E2E_SUITE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "bench/bench_flags.h"
#include "bench/result_table.h"

namespace ternserve::bench {

// Owns the bundle, images and engines the registered benchmarks use: keep it alive until they
// have run.
class CudaE2eSuite;

// Opens options.bundle, creates the engines, checks agreement and registers the benchmarks and
// rows (call once, from main, before the benchmarks run). INVALID_ARGUMENT for a bad bundle,
// FAILED_PRECONDITION without a CUDA device (the engine's message), INTERNAL if the agreement
// check fails or a CUDA call does.
absl::StatusOr<std::shared_ptr<CudaE2eSuite>> RegisterCudaE2eSuite(const BenchOptions& options,
                                                                   ResultTable* table);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_CUDA_E2E_SUITE_H_
