// How ternserve-bench's GPU baselines are timed (CUDA builds only), and the first of them: the
// bare launch chain of issue 20's point 6 ("batch-1 latency within 2x of a bare kernel launch
// chain of the same depth").
//
// MedianEventMs times whatever a callback enqueues on a stream: CUDA events recorded before and
// after it on that stream, one cudaEventSynchronize per run, the median of `runs` runs after
// `warmup` untimed ones. That is GPU-timeline time from the first enqueued work to the last
// finished, so it includes host launch gaps the GPU waits through, but not the final wake-up of
// a synchronizing host thread; CudaEngine's cuda_ms (Google Benchmark real time of Run) includes
// that and its host-side copies, so a ratio against it favours the baseline slightly.
//
// Nothing here keeps state; each call makes and frees its own events, stream and graph.
#ifndef TERNSERVE_BENCH_GPU_TIMING_H_
#define TERNSERVE_BENCH_GPU_TIMING_H_

#include <cuda_runtime_api.h>

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/arch.h"

namespace ternserve::bench {

// OK for cudaSuccess, else INTERNAL "<call> failed: <error name> (<error string>)".
absl::Status CudaCallStatus(const char* call, cudaError_t error);

// The median over `runs` of one enqueue's event-timed ms on `stream` (see above). The first error
// of `enqueue` or of a CUDA call is returned as it is.
absl::StatusOr<double> MedianEventMs(cudaStream_t stream,
                                     const std::function<absl::Status()>& enqueue, int warmup,
                                     int runs);

// The kernel launches CudaEngine makes for one batch of `subnet` (models/cuda_engine.cc Enqueue:
// one each for the stem input quantization, every active conv including the 1x1 shortcuts, the
// pool and the classifier; the two copies are not kernels).
int CudaEngineKernelLaunches(const ArchConfig& arch, const SubnetConfig& subnet);

struct LaunchChainMs {
  double plain_ms = 0;  // `launches` launches of the trivial kernel, back to back, one stream
  double graph_ms = 0;  // the same chain captured once into a CUDA graph, one graph launch a run
};

// The bare launch chain of `launches` trivial kernels (baseline_kernels.h) on a fresh stream of
// the current device, timed by MedianEventMs. INTERNAL naming the CUDA call on any error.
absl::StatusOr<LaunchChainMs> TimeLaunchChain(int launches, int warmup, int runs);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_GPU_TIMING_H_
