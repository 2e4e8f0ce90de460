// Event timing and the bare launch chain (gpu_timing.h).
#include "bench/gpu_timing.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/baseline_kernels.h"

namespace ternserve::bench {
namespace {

#define TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR(call, expr)                            \
  do {                                                                              \
    if (absl::Status cuda_status_ = CudaCallStatus(call, expr); !cuda_status_.ok()) \
      return cuda_status_;                                                          \
  } while (0)

// Owners of the raw CUDA handles a timing makes; they release them on every return path.
struct Events {
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Events() {
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
  }
};

struct ChainResources {
  cudaStream_t stream = nullptr;
  int* flag = nullptr;
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ~ChainResources() {
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (flag != nullptr) cudaFree(flag);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

absl::Status EnqueueChain(int launches, int* flag, cudaStream_t stream) {
  for (int i = 0; i < launches; ++i) {
    TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("LaunchTrivialKernel",
                                         LaunchTrivialKernel(flag, i, stream));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CudaCallStatus(const char* call, cudaError_t error) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(call, " failed: ", cudaGetErrorName(error), " (",
                                          cudaGetErrorString(error), ")"));
}

absl::StatusOr<double> MedianEventMs(cudaStream_t stream,
                                     const std::function<absl::Status()>& enqueue, int warmup,
                                     int runs) {
  Events events;
  TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaEventCreate", cudaEventCreate(&events.start));
  TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaEventCreate", cudaEventCreate(&events.stop));
  for (int i = 0; i < warmup; ++i) {
    if (absl::Status s = enqueue(); !s.ok()) return s;
  }
  TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaStreamSynchronize(warm-up)",
                                       cudaStreamSynchronize(stream));
  std::vector<float> ms(std::max(runs, 1));
  for (float& run_ms : ms) {
    TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaEventRecord(start)",
                                         cudaEventRecord(events.start, stream));
    if (absl::Status s = enqueue(); !s.ok()) return s;
    TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaEventRecord(stop)",
                                         cudaEventRecord(events.stop, stream));
    TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaEventSynchronize(stop)",
                                         cudaEventSynchronize(events.stop));
    TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaEventElapsedTime",
                                         cudaEventElapsedTime(&run_ms, events.start, events.stop));
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return static_cast<double>(ms[ms.size() / 2]);
}

int CudaEngineKernelLaunches(const ArchConfig& arch, const SubnetConfig& subnet) {
  int convs = 0;  // stem, block convs, shortcuts and fc
  for (const LayerSpec& layer : SupernetLayers(arch)) convs += LayerActive(layer, subnet) ? 1 : 0;
  return convs + 2;  // + the stem input quantization and the pool
}

absl::StatusOr<LaunchChainMs> TimeLaunchChain(int launches, int warmup, int runs) {
  ChainResources r;
  TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaStreamCreateWithFlags",
                                       cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking));
  TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaMalloc(flag)",
                                       cudaMalloc(reinterpret_cast<void**>(&r.flag), sizeof(int)));
  LaunchChainMs result;
  absl::StatusOr<double> plain = MedianEventMs(
      r.stream, [&] { return EnqueueChain(launches, r.flag, r.stream); }, warmup, runs);
  if (!plain.ok()) return plain.status();
  result.plain_ms = *plain;

  TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR(
      "cudaStreamBeginCapture", cudaStreamBeginCapture(r.stream, cudaStreamCaptureModeThreadLocal));
  const absl::Status captured = EnqueueChain(launches, r.flag, r.stream);
  const cudaError_t ended = cudaStreamEndCapture(r.stream, &r.graph);
  if (!captured.ok()) return captured;
  TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaStreamEndCapture", ended);
  TERNSERVE_BENCH_CUDA_RETURN_IF_ERROR("cudaGraphInstantiate",
                                       cudaGraphInstantiate(&r.exec, r.graph, 0));
  absl::StatusOr<double> graph = MedianEventMs(
      r.stream,
      [&] { return CudaCallStatus("cudaGraphLaunch", cudaGraphLaunch(r.exec, r.stream)); }, warmup,
      runs);
  if (!graph.ok()) return graph.status();
  result.graph_ms = *graph;
  return result;
}

}  // namespace ternserve::bench
