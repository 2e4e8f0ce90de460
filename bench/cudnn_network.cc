// The plain cuDNN network (cudnn_network.h): built layer by layer from the architecture, as
// CudaEngine's plan is (SupernetLayers, LayerActive, SlicedIn / SlicedOut).
#include "bench/cudnn_network.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/baseline_kernels.h"
#include "bench/gpu_timing.h"

namespace ternserve::bench {
namespace {

constexpr float kInt8ConvScale = 1.0f / 64;  // int32 accumulator -> int8 output (alpha1)

#define TERNSERVE_RETURN_IF_ERROR(expr)                \
  do {                                                 \
    if (absl::Status s_ = (expr); !s_.ok()) return s_; \
  } while (0)
#define TERNSERVE_CUDNN(call, expr) TERNSERVE_RETURN_IF_ERROR(CudnnStatus(call, expr))
#define TERNSERVE_CUDA(call, expr) TERNSERVE_RETURN_IF_ERROR(CudaCallStatus(call, expr))

absl::Status Allocate(size_t bytes, const std::string& what, DeviceBuffer* out) {
  void* p = nullptr;
  TERNSERVE_CUDA(absl::StrCat("cudaMalloc(", what, ")").c_str(),
                 cudaMalloc(&p, std::max<size_t>(bytes, 1)));
  out->reset(p);
  return absl::OkStatus();
}

absl::Status AllocatePinned(size_t bytes, const std::string& what, PinnedBuffer* out) {
  void* p = nullptr;
  TERNSERVE_CUDA(absl::StrCat("cudaMallocHost(", what, ")").c_str(),
                 cudaMallocHost(&p, std::max<size_t>(bytes, 1)));
  out->reset(p);
  return absl::OkStatus();
}

// The workspace size of op's algorithm, and the shared workspace grown to it.
absl::Status SizeWorkspace(CudnnContext& ctx, ConvOp& op) {
  TERNSERVE_CUDNN(
      absl::StrCat("cudnnGetConvolutionForwardWorkspaceSize(", op.name, ")"),
      cudnnGetConvolutionForwardWorkspaceSize(ctx.handle, op.x.get(), op.w.get(), op.conv.get(),
                                              op.y.get(), op.algo, &op.workspace_bytes));
  return ctx.EnsureWorkspace(op.workspace_bytes);
}

// The fastest algorithm Find measures for op's shape (cached by `shape`), else the first the v7
// heuristics offer that succeeds; op's math type follows the chosen algorithm's.
absl::Status ChooseAlgo(CudnnContext& ctx, ConvOp& op, const std::string& shape) {
  auto it = ctx.algos.find(shape);
  if (it == ctx.algos.end()) {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int found = 0;
    auto first_ok = [&]() -> const cudnnConvolutionFwdAlgoPerf_t* {
      for (int i = 0; i < found; ++i) {
        if (perf[i].status == CUDNN_STATUS_SUCCESS) return &perf[i];
      }
      return nullptr;
    };
    const absl::Status find =
        CudnnStatus(absl::StrCat("cudnnFindConvolutionForwardAlgorithm(", op.name, ")"),
                    cudnnFindConvolutionForwardAlgorithm(
                        ctx.handle, op.x.get(), op.w.get(), op.conv.get(), op.y.get(),
                        CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf));
    const cudnnConvolutionFwdAlgoPerf_t* best = find.ok() ? first_ok() : nullptr;
    absl::Status v7;
    if (best == nullptr) {
      found = 0;
      v7 = CudnnStatus(absl::StrCat("cudnnGetConvolutionForwardAlgorithm_v7(", op.name, ")"),
                       cudnnGetConvolutionForwardAlgorithm_v7(
                           ctx.handle, op.x.get(), op.w.get(), op.conv.get(), op.y.get(),
                           CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &found, perf));
      best = v7.ok() ? first_ok() : nullptr;
    }
    if (best == nullptr) {
      const std::string why =
          absl::StrCat("no cuDNN algorithm runs ", op.name, " (", shape,
                       "): ", find.ok() ? "Find found none that succeeds" : find.message(), "; ",
                       v7.ok() ? "the v7 heuristics offer none that succeeds" : v7.message());
      return find.code() == absl::StatusCode::kInternal ? absl::InternalError(why)
                                                        : absl::UnimplementedError(why);
    }
    it = ctx.algos.emplace(shape, *best).first;
  }
  op.algo = it->second.algo;
  TERNSERVE_CUDNN(absl::StrCat("cudnnSetConvolutionMathType(", op.name, ")"),
                  cudnnSetConvolutionMathType(op.conv.get(), it->second.mathType));
  return SizeWorkspace(ctx, op);
}

// One conv with its descriptors, random weights and algorithm; *side becomes its output side.
absl::StatusOr<std::unique_ptr<ConvOp>> MakeConv(CudnnContext& ctx, const Network& net,
                                                 ConvOp::Kind kind, const std::string& name,
                                                 int in_channels, int out_channels, int kernel,
                                                 int stride, int* side) {
  const bool fp16 = net.precision == CudnnPrecision::kFp16;
  const cudnnDataType_t data = fp16 ? CUDNN_DATA_HALF : CUDNN_DATA_INT8;
  const cudnnDataType_t out_data = fp16                             ? CUDNN_DATA_HALF
                                   : kind == ConvOp::kPlainThenBias ? CUDNN_DATA_FLOAT
                                                                    : CUDNN_DATA_INT8;
  auto op = std::make_unique<ConvOp>();
  op->kind = kind;
  op->name = name;
  op->alpha1 = fp16 ? 1.0f : kInt8ConvScale;
  for (absl::Status s :
       {op->x.Create(), op->y.Create(), op->bias.Create(), op->w.Create(), op->conv.Create()}) {
    TERNSERVE_RETURN_IF_ERROR(s);
  }
  const std::string of = absl::StrCat("(", name, ")");
  TERNSERVE_CUDNN("cudnnSetTensor4dDescriptor(x)" + of,
                  cudnnSetTensor4dDescriptor(op->x.get(), CUDNN_TENSOR_NHWC, data, net.batch,
                                             in_channels, *side, *side));
  TERNSERVE_CUDNN("cudnnSetFilter4dDescriptor" + of,
                  cudnnSetFilter4dDescriptor(op->w.get(), data, CUDNN_TENSOR_NHWC, out_channels,
                                             in_channels, kernel, kernel));
  const int pad = kernel / 2;  // 3x3: pad 1; 1x1: none
  TERNSERVE_CUDNN("cudnnSetConvolution2dDescriptor" + of,
                  cudnnSetConvolution2dDescriptor(op->conv.get(), pad, pad, stride, stride, 1, 1,
                                                  CUDNN_CROSS_CORRELATION,
                                                  fp16 ? CUDNN_DATA_FLOAT : CUDNN_DATA_INT32));
  TERNSERVE_CUDNN("cudnnSetConvolutionMathType" + of,
                  cudnnSetConvolutionMathType(op->conv.get(), CUDNN_TENSOR_OP_MATH));
  int n = 0, c = 0, h = 0, w = 0;
  TERNSERVE_CUDNN("cudnnGetConvolution2dForwardOutputDim" + of,
                  cudnnGetConvolution2dForwardOutputDim(op->conv.get(), op->x.get(), op->w.get(),
                                                        &n, &c, &h, &w));
  TERNSERVE_CUDNN("cudnnSetTensor4dDescriptor(y)" + of,
                  cudnnSetTensor4dDescriptor(op->y.get(), CUDNN_TENSOR_NHWC, out_data, n, c, h, w));
  TERNSERVE_CUDNN(
      "cudnnSetTensor4dDescriptor(bias)" + of,
      cudnnSetTensor4dDescriptor(op->bias.get(), CUDNN_TENSOR_NHWC,
                                 fp16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT, 1, out_channels, 1, 1));
  const std::string shape = absl::StrCat(
      fp16 ? "fp16" : "int8", " n", net.batch, " c", in_channels, " ", *side, "x", *side, " k",
      out_channels, " r", kernel, " s", stride, kind == ConvOp::kPlainThenBias ? " f32-out" : "");
  *side = h;

  // Random weights (about 1/sqrt(fan-in) in fp16, {-1, 0, 1} in int8) and biases.
  const int64_t weights = static_cast<int64_t>(out_channels) * in_channels * kernel * kernel;
  const uint32_t seed = static_cast<uint32_t>(std::hash<std::string>()(name));
  TERNSERVE_RETURN_IF_ERROR(Allocate(weights * (fp16 ? 2 : 1), name, &op->weights));
  TERNSERVE_RETURN_IF_ERROR(
      Allocate(out_channels * (fp16 ? 2 : 4), name + " bias", &op->bias_data));
  if (fp16) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(in_channels * kernel * kernel));
    TERNSERVE_CUDA("FillRandomHalf",
                   FillRandomHalf(op->weights.get(), weights, scale, seed, ctx.stream));
    TERNSERVE_CUDA("FillRandomHalf",
                   FillRandomHalf(op->bias_data.get(), out_channels, 0.1f, seed + 1, ctx.stream));
  } else {
    TERNSERVE_CUDA("FillRandomInt8", FillRandomInt8(static_cast<int8_t*>(op->weights.get()),
                                                    weights, 1, seed, ctx.stream));
    TERNSERVE_CUDA("FillRandomFloat", FillRandomFloat(static_cast<float*>(op->bias_data.get()),
                                                      out_channels, 1.0f, seed + 1, ctx.stream));
  }
  TERNSERVE_RETURN_IF_ERROR(ChooseAlgo(ctx, *op, shape));
  return op;
}

}  // namespace

absl::Status CudnnStatus(const std::string& call, cudnnStatus_t status) {
  if (status == CUDNN_STATUS_SUCCESS) return absl::OkStatus();
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof(detail));
  std::string message = absl::StrCat(call, " failed: ", cudnnGetErrorString(status));
  if (detail[0] != '\0') absl::StrAppend(&message, " (", detail, ")");
  return status / 1000 == CUDNN_STATUS_NOT_SUPPORTED / 1000 ? absl::UnimplementedError(message)
                                                            : absl::InternalError(message);
}

CudnnContext::~CudnnContext() {
  workspace.reset();
  if (handle != nullptr) cudnnDestroy(handle);
  if (stream != nullptr) cudaStreamDestroy(stream);
}

absl::Status CudnnContext::EnsureWorkspace(size_t bytes) {
  if (bytes <= workspace_bytes) return absl::OkStatus();
  workspace.reset();
  workspace_bytes = 0;
  TERNSERVE_RETURN_IF_ERROR(Allocate(bytes, "workspace", &workspace));
  workspace_bytes = bytes;
  return absl::OkStatus();
}

absl::Status BuildNetwork(CudnnContext& ctx, const ArchConfig& arch, const SubnetConfig& subnet,
                          Network* net) {
  const bool fp16 = net->precision == CudnnPrecision::kFp16;
  const size_t element_bytes = fp16 ? 2 : 1;
  const size_t batch = net->batch;
  net->in_channels = fp16 ? 8 : 4;
  const int widest = std::max(
      {subnet.widths[0], subnet.widths[1], subnet.widths[2], net->in_channels, kClassesPadded});
  // Every activation fits the widest channel count at full resolution.
  const size_t activation_bytes = batch * kImagePixels * widest * element_bytes;
  TERNSERVE_RETURN_IF_ERROR(Allocate(batch * kImagePixels * sizeof(float), "images", &net->images));
  TERNSERVE_RETURN_IF_ERROR(Allocate(activation_bytes, "input", &net->input));
  for (DeviceBuffer& act : net->act) {
    TERNSERVE_RETURN_IF_ERROR(Allocate(activation_bytes, "activations", &act));
  }
  TERNSERVE_RETURN_IF_ERROR(Allocate(batch * widest * element_bytes, "pooled", &net->pooled));
  net->logit_bytes = batch * kClassesPadded * (fp16 ? 2 : 4);
  TERNSERVE_RETURN_IF_ERROR(Allocate(net->logit_bytes, "logits", &net->logits));
  TERNSERVE_RETURN_IF_ERROR(
      AllocatePinned(batch * kImagePixels * sizeof(float), "images", &net->host_images));
  TERNSERVE_RETURN_IF_ERROR(AllocatePinned(net->logit_bytes, "logits", &net->host_logits));
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  float* pixels = static_cast<float*>(net->host_images.get());
  for (size_t i = 0; i < batch * kImagePixels; ++i) pixels[i] = unit(rng);

  // The active layers in SupernetLayers' order: stem, per block conv1, conv2, shortcut; fc.
  std::vector<LayerSpec> layers;
  for (LayerSpec& layer : SupernetLayers(arch)) {
    if (LayerActive(layer, subnet)) layers.push_back(std::move(layer));
  }
  void* h = net->act[0].get();  // the block input
  void* t = net->act[1].get();  // conv1's output
  void* out = net->act[2].get();
  void* shortcut = net->act[3].get();
  int side = kImageSide;  // of h
  int conv1_side = 0;     // of t
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSpec& l = layers[i];
    if (absl::EndsWith(l.name, ".shortcut")) continue;  // made before its block's conv2
    int out_side = 0;
    if (l.name == "fc") {
      net->pool_pixels = side * side;
      net->pool_channels = SlicedIn(l, subnet);
      out_side = 1;
      absl::StatusOr<std::unique_ptr<ConvOp>> fc =
          MakeConv(ctx, *net, ConvOp::kPlainThenBias, l.name, net->pool_channels, kClassesPadded, 1,
                   1, &out_side);
      if (!fc.ok()) return fc.status();
      (*fc)->in = net->pooled.get();
      (*fc)->out = net->logits.get();
      net->fc = std::move(*fc);
      continue;
    }
    const bool conv2 = absl::EndsWith(l.name, ".conv2");
    const bool has_shortcut =
        conv2 && i + 1 < layers.size() && absl::EndsWith(layers[i + 1].name, ".shortcut");
    if (has_shortcut) {  // it reads the block input; conv2 adds its output
      const LayerSpec& s = layers[i + 1];
      out_side = side;
      absl::StatusOr<std::unique_ptr<ConvOp>> op =
          MakeConv(ctx, *net, ConvOp::kPlain, s.name, SlicedIn(s, subnet), SlicedOut(s, subnet),
                   s.kernel, s.stride, &out_side);
      if (!op.ok()) return op.status();
      (*op)->in = h;
      (*op)->out = shortcut;
      net->body.push_back(std::move(*op));
    }
    const bool stem = l.name == "stem";
    out_side = conv2 ? conv1_side : side;
    absl::StatusOr<std::unique_ptr<ConvOp>> op =
        MakeConv(ctx, *net, ConvOp::kFused, l.name, stem ? net->in_channels : SlicedIn(l, subnet),
                 SlicedOut(l, subnet), l.kernel, l.stride, &out_side);
    if (!op.ok()) return op.status();
    ConvOp& conv = **op;
    if (stem) {
      conv.in = net->input.get();
      conv.out = h;
      side = out_side;
    } else if (!conv2) {  // conv1
      conv.in = h;
      conv.out = t;
      conv1_side = out_side;
    } else {
      conv.in = t;
      conv.out = out;
      conv.z = has_shortcut ? shortcut : h;
      std::swap(h, out);
      side = out_side;
    }
    net->body.push_back(std::move(*op));
  }
  if (net->fc == nullptr) return absl::InternalError("the architecture has no fc layer");
  return absl::OkStatus();
}

absl::Status RunConv(CudnnContext& ctx, const ConvOp& op) {
  const float one = 1.0f, zero = 0.0f;
  if (op.kind == ConvOp::kFused) {
    // y = ReLU(alpha1 * conv(x) + alpha2 * z + bias); without a residual z is y, scaled by 0.
    const float alpha2 = op.z != nullptr ? 1.0f : 0.0f;
    return CudnnStatus(absl::StrCat("cudnnConvolutionBiasActivationForward(", op.name, ")"),
                       cudnnConvolutionBiasActivationForward(
                           ctx.handle, &op.alpha1, op.x.get(), op.in, op.w.get(), op.weights.get(),
                           op.conv.get(), op.algo, ctx.workspace.get(), op.workspace_bytes, &alpha2,
                           op.y.get(), op.z != nullptr ? op.z : op.out, op.bias.get(),
                           op.bias_data.get(), ctx.relu.get(), op.y.get(), op.out));
  }
  TERNSERVE_CUDNN(
      absl::StrCat("cudnnConvolutionForward(", op.name, ")"),
      cudnnConvolutionForward(ctx.handle, &op.alpha1, op.x.get(), op.in, op.w.get(),
                              op.weights.get(), op.conv.get(), op.algo, ctx.workspace.get(),
                              op.workspace_bytes, &zero, op.y.get(), op.out));
  if (op.kind == ConvOp::kPlainThenBias) {
    TERNSERVE_CUDNN(absl::StrCat("cudnnAddTensor(", op.name, " bias)"),
                    cudnnAddTensor(ctx.handle, &one, op.bias.get(), op.bias_data.get(), &one,
                                   op.y.get(), op.out));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> FallBackToImplicitGemm(CudnnContext& ctx, ConvOp& op) {
  if (op.algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) return false;
  op.algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  if (absl::Status s = SizeWorkspace(ctx, op); !s.ok()) return s;
  return true;
}

}  // namespace ternserve::bench
