// CudnnBaseline (cudnn_baseline.h): one network per Time(), checked by one run, then timed with
// plain calls and as a CUDA graph. The network itself is cudnn_network.cc. Without cuDNN in the
// build (TERNSERVE_HAVE_CUDNN unset), Create says so and nothing else is compiled.
#include "bench/cudnn_baseline.h"

#include <utility>

#include "absl/strings/str_cat.h"

#if TERNSERVE_HAVE_CUDNN
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "absl/strings/str_format.h"
#include "bench/baseline_kernels.h"
#include "bench/cudnn_network.h"
#include "bench/gpu_timing.h"
#endif

namespace ternserve::bench {

#if !TERNSERVE_HAVE_CUDNN

struct CudnnBaseline::Impl {};

CudnnBaseline::CudnnBaseline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudnnBaseline::~CudnnBaseline() = default;

absl::StatusOr<std::unique_ptr<CudnnBaseline>> CudnnBaseline::Create(const CudnnBaselineOptions&) {
  return absl::UnimplementedError(
      "this build has no cuDNN (bench/CMakeLists.txt found no cudnn.h and libcudnn at configure "
      "time)");
}
absl::StatusOr<CudnnTiming> CudnnBaseline::Time(const ArchConfig&, const SubnetConfig&, int,
                                                CudnnPrecision) {
  return absl::UnimplementedError("this build has no cuDNN");
}
std::string CudnnBaseline::version() const { return "none"; }

#else  // TERNSERVE_HAVE_CUDNN

#define TERNSERVE_RETURN_IF_ERROR(expr)                \
  do {                                                 \
    if (absl::Status s_ = (expr); !s_.ok()) return s_; \
  } while (0)
#define TERNSERVE_CUDA(call, expr) TERNSERVE_RETURN_IF_ERROR(CudaCallStatus(call, expr))

struct CudnnBaseline::Impl {
  CudnnBaselineOptions options;
  CudnnContext ctx;

  absl::Status Enqueue(const Network& net);
  absl::Status Validate(Network& net);
  // Captures Enqueue into a graph; on failure, ends the capture and says why.
  absl::Status Capture(const Network& net, cudaGraph_t* graph, cudaGraphExec_t* exec);
};

namespace {

// The glue kernels of one precision (baseline_kernels.h).
absl::Status EnqueueInput(const Network& net, const CudnnBaselineOptions& o, cudaStream_t s) {
  const float* pixels = static_cast<const float*>(net.images.get());
  if (net.precision == CudnnPrecision::kFp16) {
    return CudaCallStatus("ImagesToHalfNhwc",
                          ImagesToHalfNhwc(pixels, net.batch, net.in_channels, o.input_mean,
                                           o.input_std, net.input.get(), s));
  }
  return CudaCallStatus(
      "ImagesToInt8Nhwc",
      ImagesToInt8Nhwc(pixels, net.batch, net.in_channels, o.input_mean, o.input_std, 1.0f / 32,
                       static_cast<int8_t*>(net.input.get()), s));
}

absl::Status EnqueuePool(const Network& net, const void* h, cudaStream_t s) {
  if (net.precision == CudnnPrecision::kFp16) {
    return CudaCallStatus(
        "AveragePoolHalfNhwc",
        AveragePoolHalfNhwc(h, net.batch, net.pool_pixels, net.pool_channels, net.pooled.get(), s));
  }
  return CudaCallStatus(
      "AveragePoolInt8Nhwc",
      AveragePoolInt8Nhwc(static_cast<const int8_t*>(h), net.batch, net.pool_pixels,
                          net.pool_channels, static_cast<int8_t*>(net.pooled.get()), s));
}

}  // namespace

CudnnBaseline::CudnnBaseline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudnnBaseline::~CudnnBaseline() = default;

absl::StatusOr<std::unique_ptr<CudnnBaseline>> CudnnBaseline::Create(
    const CudnnBaselineOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  CudnnContext& ctx = impl->ctx;
  TERNSERVE_CUDA("cudaSetDevice", cudaSetDevice(options.device));
  TERNSERVE_CUDA("cudaStreamCreateWithFlags",
                 cudaStreamCreateWithFlags(&ctx.stream, cudaStreamNonBlocking));
  TERNSERVE_RETURN_IF_ERROR(CudnnStatus("cudnnCreate", cudnnCreate(&ctx.handle)));
  TERNSERVE_RETURN_IF_ERROR(CudnnStatus("cudnnSetStream", cudnnSetStream(ctx.handle, ctx.stream)));
  TERNSERVE_RETURN_IF_ERROR(ctx.relu.Create());
  TERNSERVE_RETURN_IF_ERROR(
      CudnnStatus("cudnnSetActivationDescriptor",
                  cudnnSetActivationDescriptor(ctx.relu.get(), CUDNN_ACTIVATION_RELU,
                                               CUDNN_NOT_PROPAGATE_NAN, 0.0)));
  return std::unique_ptr<CudnnBaseline>(new CudnnBaseline(std::move(impl)));
}

std::string CudnnBaseline::version() const {
  const size_t v = cudnnGetVersion();  // major * 10000 + minor * 100 + patch since cuDNN 9
  return absl::StrFormat("cuDNN %d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}

absl::Status CudnnBaseline::Impl::Enqueue(const Network& net) {
  cudaStream_t s = ctx.stream;
  TERNSERVE_CUDA("cudaMemcpyAsync(images)",
                 cudaMemcpyAsync(net.images.get(), net.host_images.get(),
                                 static_cast<size_t>(net.batch) * kImagePixels * sizeof(float),
                                 cudaMemcpyHostToDevice, s));
  TERNSERVE_RETURN_IF_ERROR(EnqueueInput(net, options, s));
  for (const std::unique_ptr<ConvOp>& op : net.body) {
    TERNSERVE_RETURN_IF_ERROR(RunConv(ctx, *op));
  }
  // The pool reads the last block's output (the stem's for a net without blocks).
  TERNSERVE_RETURN_IF_ERROR(EnqueuePool(net, net.body.back()->out, s));
  TERNSERVE_RETURN_IF_ERROR(RunConv(ctx, *net.fc));
  TERNSERVE_CUDA("cudaMemcpyAsync(logits)",
                 cudaMemcpyAsync(net.host_logits.get(), net.logits.get(), net.logit_bytes,
                                 cudaMemcpyDeviceToHost, s));
  return absl::OkStatus();
}

absl::Status CudnnBaseline::Impl::Validate(Network& net) {
  // One conv at a time, so that a fused call its algorithm refuses can fall back.
  TERNSERVE_CUDA("cudaMemcpyAsync(images)",
                 cudaMemcpyAsync(net.images.get(), net.host_images.get(),
                                 static_cast<size_t>(net.batch) * kImagePixels * sizeof(float),
                                 cudaMemcpyHostToDevice, ctx.stream));
  TERNSERVE_RETURN_IF_ERROR(EnqueueInput(net, options, ctx.stream));
  for (std::unique_ptr<ConvOp>& op : net.body) {
    absl::Status run = RunConv(ctx, *op);
    if (!run.ok() && op->kind == ConvOp::kFused) {
      absl::StatusOr<bool> fell_back = FallBackToImplicitGemm(ctx, *op);
      if (!fell_back.ok()) return fell_back.status();
      if (*fell_back) {
        const absl::Status retry = RunConv(ctx, *op);
        if (!retry.ok()) {
          return absl::Status(
              run.code(),
              absl::StrCat(run.message(), "; with IMPLICIT_PRECOMP_GEMM: ", retry.message()));
        }
        run = retry;
      }
    }
    TERNSERVE_RETURN_IF_ERROR(run);
  }
  TERNSERVE_RETURN_IF_ERROR(EnqueuePool(net, net.body.back()->out, ctx.stream));
  TERNSERVE_RETURN_IF_ERROR(RunConv(ctx, *net.fc));
  // Errors of the kernels' execution surface here.
  TERNSERVE_CUDA("cudaStreamSynchronize(first run)", cudaStreamSynchronize(ctx.stream));
  return absl::OkStatus();
}

absl::Status CudnnBaseline::Impl::Capture(const Network& net, cudaGraph_t* graph,
                                          cudaGraphExec_t* exec) {
  TERNSERVE_CUDA("cudaStreamBeginCapture",
                 cudaStreamBeginCapture(ctx.stream, cudaStreamCaptureModeThreadLocal));
  const absl::Status enqueued = Enqueue(net);
  const cudaError_t ended = cudaStreamEndCapture(ctx.stream, graph);
  if (!enqueued.ok()) return enqueued;
  TERNSERVE_CUDA("cudaStreamEndCapture", ended);
  TERNSERVE_CUDA("cudaGraphInstantiate", cudaGraphInstantiate(exec, *graph, 0));
  return absl::OkStatus();
}

absl::StatusOr<CudnnTiming> CudnnBaseline::Time(const ArchConfig& arch, const SubnetConfig& subnet,
                                                int batch, CudnnPrecision precision) {
  TERNSERVE_CUDA("cudaSetDevice", cudaSetDevice(impl_->options.device));
  Network net;
  net.precision = precision;
  net.batch = batch;
  TERNSERVE_RETURN_IF_ERROR(BuildNetwork(impl_->ctx, arch, subnet, &net));
  TERNSERVE_RETURN_IF_ERROR(impl_->Validate(net));

  const CudnnBaselineOptions& o = impl_->options;
  CudnnTiming timing;
  absl::StatusOr<double> plain = MedianEventMs(
      impl_->ctx.stream, [&] { return impl_->Enqueue(net); }, o.warmup, o.runs);
  if (!plain.ok()) return plain.status();
  timing.plain_ms = timing.ms = *plain;
  timing.launch = "plain";

  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  const absl::Status captured = impl_->Capture(net, &graph, &exec);
  if (captured.ok()) {
    absl::StatusOr<double> replayed = MedianEventMs(
        impl_->ctx.stream,
        [&] { return CudaCallStatus("cudaGraphLaunch", cudaGraphLaunch(exec, impl_->ctx.stream)); },
        o.warmup, o.runs);
    if (replayed.ok()) {
      timing.graph_ms = *replayed;
      if (timing.graph_ms < timing.ms) {
        timing.ms = timing.graph_ms;
        timing.launch = "graph";
      }
    } else {
      timing.graph_failed = std::string(replayed.status().message());
    }
  } else {
    timing.graph_failed = std::string(captured.message());
    cudaGetLastError();  // a failed capture's error is not sticky; clear it for what follows
  }
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  if (graph != nullptr) cudaGraphDestroy(graph);
  // Drain before the network's buffers are freed.
  TERNSERVE_CUDA("cudaStreamSynchronize", cudaStreamSynchronize(impl_->ctx.stream));
  return timing;
}

#endif  // TERNSERVE_HAVE_CUDNN

}  // namespace ternserve::bench
