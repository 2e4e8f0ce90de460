// The CUDA end-to-end suite (ternserve-bench --engine=cuda; CUDA builds only): every sub-net of the
// bundle at batch 1, 8 and 32, CudaEngine (graphs on) in ms per batch next to TernaryEngine on the
// CPU (--e2e_threads threads), plus one row of device weight bytes. Rows carry the CPU suite's
// fields (subnet, subnet_name, macs, batch, threads, isa, input, top-1 agreement, agree_images)
// with isa the GPU's ("sm_90") and the device named.
//
// Before anything is timed, CudaEngine's top-1 class is checked against TernaryEngine's on the
// first kAgreementImages test images (the kernels are bit-exact, so anything below
// kMinTop1Agreement fails the run, exit 1).
//
// The GPU baselines, timed at registration with CUDA events (gpu_timing.h): per row, a plain cuDNN
// network of the sub-net's convs in fp16 and int8 (cudnn_baseline.h; cudnn_fp16_ms,
// cudnn_int8_ms, their _launch and the ratios x_cudnn_* = cuDNN ms / cuda_ms), and on batch-1 rows
// the bare launch chain of the sub-net's kernel count (kernel_launches, launch_chain_ms,
// launch_chain_graph_ms, x_launch_chain* = cuda_ms / chain ms). A baseline that cannot run (no
// cuDNN in the build, an int8 shape cuDNN refuses, any CUDA error) leaves its columns null with a
// note naming the call. torch_fp16 stays null with a note (Debian's LibTorch is built without
// CUDA).
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
