// CudaEngine: a TernaryPlan on the CUDA kernels. See cuda_engine.h and docs/cuda.md.
#include "models/cuda_engine.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/kernels/conv_params.h"
#include "models/kernels/cuda/ternary_cuda.h"
#include "models/kernels/ternary_blocks.h"
#include "models/ternary_plan.h"

namespace ternserve {
namespace {

using kernels::ConvEpilogue;
using kernels::ConvInput;
using kernels::ConvShape;
using kernels::PaddedChannels;
using kernels::TernaryConvWeights;

// Every piece of the weight upload starts on this boundary (the CUDA allocator's own alignment),
// so any kernel may use vector loads on it.
constexpr size_t kDeviceAlign = 256;

// INTERNAL naming the call and CUDA's error for `error`; OK for cudaSuccess.
absl::Status CudaStatus(const char* call, cudaError_t error) {
  if (error == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(call, " failed: ", cudaGetErrorName(error), " (",
                                          cudaGetErrorString(error), ")"));
}

#define TERNSERVE_CUDA_RETURN_IF_ERROR(name, call)                              \
  do {                                                                          \
    if (absl::Status cuda_status_ = CudaStatus(name, call); !cuda_status_.ok()) \
      return cuda_status_;                                                      \
  } while (0)

struct DeviceFree {
  void operator()(void* p) const { cudaFree(p); }
};
struct PinnedFree {
  void operator()(void* p) const { cudaFreeHost(p); }
};
using DeviceMemory = std::unique_ptr<void, DeviceFree>;
using PinnedMemory = std::unique_ptr<void, PinnedFree>;

absl::Status AllocateDevice(size_t bytes, const char* what, DeviceMemory* out) {
  void* p = nullptr;
  TERNSERVE_CUDA_RETURN_IF_ERROR(what, cudaMalloc(&p, std::max<size_t>(bytes, 1)));
  out->reset(p);
  return absl::OkStatus();
}

absl::Status AllocatePinned(size_t bytes, const char* what, PinnedMemory* out) {
  void* p = nullptr;
  TERNSERVE_CUDA_RETURN_IF_ERROR(what, cudaMallocHost(&p, std::max<size_t>(bytes, 1)));
  out->reset(p);
  return absl::OkStatus();
}

template <typename T>
T* As(const DeviceMemory& m) {
  return static_cast<T*>(m.get());
}
template <typename T>
T* As(const PinnedMemory& m) {
  return static_cast<T*>(m.get());
}

// A SubnetConv's device side: its weight view rebased onto the device copy of its pack, and its
// epilogue's device copies.
struct DeviceConv {
  TernaryConvWeights weights;
  const float* multiplier = nullptr;
  const float* bias = nullptr;
};

// Every conv of a sub-net, in execution order.
template <typename Fn>
void ForEachConv(const Subnet& s, Fn fn) {
  fn(s.stem);
  for (const SubnetBlock& b : s.blocks) {
    fn(b.conv1);
    if (b.shortcut) fn(*b.shortcut);
    fn(b.conv2);
  }
  fn(s.fc);
}

}  // namespace

struct CudaEngine::Impl {
  // Constant after Create.
  CudaEngineOptions options;
  std::unique_ptr<TernaryPlan> plan;
  cudaDeviceProp device_prop{};
  cudaStream_t stream = nullptr;
  DeviceMemory weights;  // every pack's blocks and every sub-net's epilogue, one allocation
  size_t weight_bytes = 0;
  std::unordered_map<const SubnetConv*, DeviceConv> device_convs;
  int max_fc_in_stride = 0;  // padded input channels of the widest classifier
  int max_class_stride = 0;  // padded logits row

  // Per-batch buffers, sized for batch_capacity images (grown on demand by Reserve).
  int batch_capacity = 0;
  DeviceMemory images, stem_in, act_a, act_b, act_c, shortcut, pooled, logits;
  PinnedMemory host_images, host_logits;

  // Captured launch sequences by (sub-net id, batch); they bake in the buffers' addresses, so
  // Reserve drops them when it reallocates.
  std::map<std::pair<int, int>, cudaGraphExec_t> graphs;
  std::string graphs_off_reason;

  ~Impl();
  absl::Status Upload();
  absl::Status Reserve(int batch);
  void DropGraphs();
  ConvEpilogue Epilogue(const SubnetConv& c, const ConvEpilogue& host) const;
  // Enqueues one whole batch on `stream`: H2D, quantization, every layer, pool, fc, D2H.
  absl::Status Enqueue(const Subnet& s, int batch);
  // Runs Enqueue through a graph of (subnet, batch), capturing it first if needed.
  absl::Status LaunchGraph(const Subnet& s, int batch);
};

CudaEngine::Impl::~Impl() {
  cudaSetDevice(options.device);
  if (stream != nullptr) cudaStreamSynchronize(stream);
  DropGraphs();
  if (stream != nullptr) cudaStreamDestroy(stream);
  // The buffers free themselves (DeviceFree, PinnedFree) after this body.
}

void CudaEngine::Impl::DropGraphs() {
  for (auto& [key, exec] : graphs) cudaGraphExecDestroy(exec);
  graphs.clear();
}

absl::Status CudaEngine::Impl::Upload() {
  // Lay out every piece, then copy the whole image with one cudaMemcpy.
  size_t total = 0;
  auto place = [&total](size_t bytes) {
    const size_t at = (total + kDeviceAlign - 1) / kDeviceAlign * kDeviceAlign;
    total = at + bytes;
    return at;
  };
  std::map<const kernels::PackedTernaryConv*, size_t> pack_at;
  for (const auto& [name, p] : plan->packed) {
    pack_at[&p] = place(p.block_count() * sizeof(kernels::WeightBlock));
  }
  struct EpiloguePlace {
    const SubnetConv* conv;
    size_t multiplier_at, bias_at;
  };
  std::vector<EpiloguePlace> epilogues;
  for (const auto& [id, s] : plan->subnets) {
    ForEachConv(s, [&](const SubnetConv& c) {
      const size_t m = place(c.multiplier.size() * sizeof(float));
      const size_t b = place(c.bias.size() * sizeof(float));
      epilogues.push_back({&c, m, b});
    });
  }
  std::vector<uint8_t> image(total, 0);
  for (const auto& [p, at] : pack_at) {
    std::memcpy(image.data() + at, p->blocks, p->block_count() * sizeof(kernels::WeightBlock));
  }
  for (const EpiloguePlace& e : epilogues) {
    std::memcpy(image.data() + e.multiplier_at, e.conv->multiplier.data(),
                e.conv->multiplier.size() * sizeof(float));
    std::memcpy(image.data() + e.bias_at, e.conv->bias.data(), e.conv->bias.size() * sizeof(float));
  }
  if (absl::Status s = AllocateDevice(total, "cudaMalloc(weights)", &weights); !s.ok()) return s;
  weight_bytes = total;
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaMemcpy(weights)", cudaMemcpy(weights.get(), image.data(),
                                                                   total, cudaMemcpyHostToDevice));

  uint8_t* base = As<uint8_t>(weights);
  for (const EpiloguePlace& e : epilogues) {
    const SubnetConv& c = *e.conv;
    DeviceConv d;
    d.weights = c.weights;
    // The view's offset into its pack is the same on the device.
    const auto* device_pack =
        reinterpret_cast<const kernels::WeightBlock*>(base + pack_at[c.packed]);
    d.weights.blocks = device_pack + (c.weights.blocks - c.packed->blocks);
    d.multiplier = reinterpret_cast<const float*>(base + e.multiplier_at);
    d.bias = reinterpret_cast<const float*>(base + e.bias_at);
    device_convs.emplace(&c, d);
  }
  for (const auto& [id, s] : plan->subnets) {
    max_fc_in_stride = std::max(max_fc_in_stride, PaddedChannels(s.fc.weights.in_channels));
    max_class_stride = std::max(max_class_stride, PaddedChannels(s.fc.weights.out_channels));
  }
  return absl::OkStatus();
}

absl::Status CudaEngine::Impl::Reserve(int batch) {
  if (batch <= batch_capacity) return absl::OkStatus();
  // Doubling bounds the reallocations (and graph re-captures) to log2 of the largest batch.
  const int capacity = std::max(batch, 2 * batch_capacity);
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaStreamSynchronize", cudaStreamSynchronize(stream));
  DropGraphs();
  batch_capacity = 0;
  // Free before allocating, so growing never holds both generations.
  for (DeviceMemory* m : {&images, &stem_in, &act_a, &act_b, &act_c, &shortcut, &pooled, &logits}) {
    m->reset();
  }
  host_images.reset();
  host_logits.reset();
  size_t act = 0;
  for (const auto& [id, s] : plan->subnets) {
    act = std::max(act, plan->MaxActivationElements(s, capacity));
  }
  const size_t n = static_cast<size_t>(capacity);
  const size_t pixels = n * kImagePixels;
  absl::Status status = AllocateDevice(pixels * sizeof(float), "cudaMalloc(images)", &images);
  if (status.ok()) {
    status = AllocateDevice(pixels * kernels::kChannelAlign, "cudaMalloc(stem input)", &stem_in);
  }
  if (status.ok()) status = AllocateDevice(act, "cudaMalloc(activations)", &act_a);
  if (status.ok()) status = AllocateDevice(act, "cudaMalloc(activations)", &act_b);
  if (status.ok()) status = AllocateDevice(act, "cudaMalloc(activations)", &act_c);
  if (status.ok()) {
    status = AllocateDevice(act * sizeof(float), "cudaMalloc(shortcut)", &shortcut);
  }
  if (status.ok()) status = AllocateDevice(n * max_fc_in_stride, "cudaMalloc(pooled)", &pooled);
  if (status.ok()) {
    status = AllocateDevice(n * max_class_stride * sizeof(float), "cudaMalloc(logits)", &logits);
  }
  if (status.ok()) {
    status = AllocatePinned(pixels * sizeof(float), "cudaMallocHost(images)", &host_images);
  }
  if (status.ok()) {
    status = AllocatePinned(n * max_class_stride * sizeof(float), "cudaMallocHost(logits)",
                            &host_logits);
  }
  if (status.ok()) batch_capacity = capacity;
  return status;
}

ConvEpilogue CudaEngine::Impl::Epilogue(const SubnetConv& c, const ConvEpilogue& host) const {
  const DeviceConv& d = device_convs.at(&c);
  ConvEpilogue e = host;
  e.multiplier = d.multiplier;
  e.bias = d.bias;
  return e;
}

absl::Status CudaEngine::Impl::Enqueue(const Subnet& s, int batch) {
  namespace cuda = kernels::cuda;
  const BundleMetadata& m = plan->bundle->metadata();
  const int64_t pixels = static_cast<int64_t>(batch) * kImagePixels;
  auto conv = [this](const SubnetConv& c, const ConvShape& shape, const ConvInput& input,
                     const ConvEpilogue& host_epilogue) {
    return CudaStatus("LaunchTernaryConv",
                      cuda::LaunchTernaryConv(shape, input, device_convs.at(&c).weights,
                                              Epilogue(c, host_epilogue), stream));
  };

  TERNSERVE_CUDA_RETURN_IF_ERROR(
      "cudaMemcpyAsync(images)",
      cudaMemcpyAsync(images.get(), host_images.get(), pixels * sizeof(float),
                      cudaMemcpyHostToDevice, stream));
  TERNSERVE_CUDA_RETURN_IF_ERROR(
      "LaunchQuantizeStemInput",
      cuda::LaunchQuantizeStemInput(As<float>(images), pixels, m.input_mean, m.input_std,
                                    plan->stem_quant, As<uint8_t>(stem_in), stream));
  const ConvShape stem_shape = s.stem.Shape(batch, kImageSide);
  if (absl::Status st =
          conv(s.stem, stem_shape, ConvInput{As<uint8_t>(stem_in), plan->stem_quant.zero_point},
               s.stem.ToU8(As<uint8_t>(act_a)));
      !st.ok()) {
    return st;
  }
  int side = stem_shape.OutH(3);

  // Residual blocks: h (block input) -> t (conv1 output) -> out (block output), as TernaryEngine.
  uint8_t* h = As<uint8_t>(act_a);
  uint8_t* t = As<uint8_t>(act_b);
  uint8_t* out = As<uint8_t>(act_c);
  for (const SubnetBlock& b : s.blocks) {
    const ConvShape shape1 = b.conv1.Shape(batch, side);
    const int out_side = shape1.OutH(3);
    if (absl::Status st = conv(b.conv1, shape1, ConvInput{h, 0}, b.conv1.ToU8(t)); !st.ok()) {
      return st;
    }
    ConvEpilogue e2 = b.conv2.ToU8(out);
    if (b.shortcut) {
      if (absl::Status st = conv(*b.shortcut, b.shortcut->Shape(batch, side), ConvInput{h, 0},
                                 b.shortcut->ToF32(As<float>(shortcut)));
          !st.ok()) {
        return st;
      }
      e2.residual_f32 = As<float>(shortcut);
    } else {
      e2.residual_u8 = h;
      e2.residual_scale = b.in_scale;
    }
    if (absl::Status st = conv(b.conv2, b.conv2.Shape(batch, out_side), ConvInput{t, 0}, e2);
        !st.ok()) {
      return st;
    }
    std::swap(h, out);
    side = out_side;
  }

  // Global average pool, requantized to u8 (the same float multiplier as TernaryEngine), then fc.
  const int pool_pixels = side * side;
  TERNSERVE_CUDA_RETURN_IF_ERROR(
      "LaunchAveragePoolU8",
      cuda::LaunchAveragePoolU8(h, batch, pool_pixels, s.fc.weights.in_channels,
                                PoolMultiplier(s, pool_pixels), As<uint8_t>(pooled), stream));
  ConvShape fc_shape;
  fc_shape.batch = batch;
  fc_shape.in_h = fc_shape.in_w = 1;
  fc_shape.stride = 1;
  if (absl::Status st =
          conv(s.fc, fc_shape, ConvInput{As<uint8_t>(pooled), 0}, s.fc.ToF32(As<float>(logits)));
      !st.ok()) {
    return st;
  }
  const size_t logit_bytes =
      static_cast<size_t>(batch) * PaddedChannels(s.fc.weights.out_channels) * sizeof(float);
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaMemcpyAsync(logits)",
                                 cudaMemcpyAsync(host_logits.get(), logits.get(), logit_bytes,
                                                 cudaMemcpyDeviceToHost, stream));
  return absl::OkStatus();
}

absl::Status CudaEngine::Impl::LaunchGraph(const Subnet& s, int batch) {
  const std::pair<int, int> key(s.meta->id, batch);
  auto it = graphs.find(key);
  if (it == graphs.end()) {
    // Thread-local capture: other threads' engines (their own streams) keep running meanwhile.
    TERNSERVE_CUDA_RETURN_IF_ERROR(
        "cudaStreamBeginCapture", cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    const absl::Status enqueued = Enqueue(s, batch);
    cudaGraph_t graph = nullptr;
    // Always end the capture, even after a failed enqueue, so the stream leaves capture mode.
    const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
    cudaGraphExec_t exec = nullptr;
    cudaError_t instantiated = cudaErrorUnknown;
    if (enqueued.ok() && ended == cudaSuccess) {
      instantiated = cudaGraphInstantiate(&exec, graph, 0);
    }
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (!enqueued.ok() || ended != cudaSuccess || instantiated != cudaSuccess) {
      // Launch errors of a capture are not sticky: clear them and go back to plain launches.
      (void)cudaGetLastError();
      graphs_off_reason =
          !enqueued.ok() ? std::string(enqueued.message())
          : ended != cudaSuccess
              ? std::string(CudaStatus("cudaStreamEndCapture", ended).message())
              : std::string(CudaStatus("cudaGraphInstantiate", instantiated).message());
      return Enqueue(s, batch);
    }
    it = graphs.emplace(key, exec).first;
  }
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaGraphLaunch", cudaGraphLaunch(it->second, stream));
  return absl::OkStatus();
}

CudaEngine::CudaEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaEngine::~CudaEngine() = default;

absl::StatusOr<std::unique_ptr<CudaEngine>> CudaEngine::Create(const Bundle& bundle,
                                                               const CudaEngineOptions& options) {
  std::string why;
  if (!kernels::cuda::CudaDevicePresent(&why)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--engine=cuda: no CUDA device (", why,
        "); it needs an NVIDIA GPU of compute capability 8.0 or newer and its driver"));
  }
  int count = 0;
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaGetDeviceCount", cudaGetDeviceCount(&count));
  if (options.device < 0 || options.device >= count) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--engine=cuda: no CUDA device ", options.device, " (this machine has ", count, ")"));
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaSetDevice", cudaSetDevice(options.device));
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaGetDeviceProperties",
                                 cudaGetDeviceProperties(&impl->device_prop, options.device));
  // The kernels are compiled for sm_80 and sm_90 (plus PTX): older devices cannot run them.
  if (impl->device_prop.major < 8) {
    return absl::FailedPreconditionError(
        absl::StrCat("--engine=cuda: device ", options.device, " (", impl->device_prop.name,
                     ") is sm_", impl->device_prop.major, impl->device_prop.minor,
                     "; the CUDA kernels are built for sm_80 and newer"));
  }
  absl::StatusOr<std::unique_ptr<TernaryPlan>> plan = TernaryPlan::Build(bundle, "cuda");
  if (!plan.ok()) return plan.status();
  impl->plan = *std::move(plan);
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaStreamCreateWithFlags",
                                 cudaStreamCreateWithFlags(&impl->stream, cudaStreamNonBlocking));
  if (absl::Status s = impl->Upload(); !s.ok()) return s;
  return std::unique_ptr<CudaEngine>(new CudaEngine(std::move(impl)));
}

std::string CudaEngine::isa() const {
  return absl::StrCat("sm_", impl_->device_prop.major, impl_->device_prop.minor);
}
std::string CudaEngine::device_name() const { return impl_->device_prop.name; }
size_t CudaEngine::device_weight_bytes() const { return impl_->weight_bytes; }
int CudaEngine::graphs() const { return static_cast<int>(impl_->graphs.size()); }
std::string CudaEngine::graphs_off_reason() const { return impl_->graphs_off_reason; }

absl::StatusOr<LogitsView> CudaEngine::Run(int subnet_id, absl::Span<const float> images,
                                           int batch) {
  Impl& e = *impl_;
  const Subnet* s = e.plan->Find(subnet_id);
  if (s == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no sub-net ", subnet_id, " in the bundle"));
  }
  if (batch < 1 || images.size() != static_cast<size_t>(batch) * kImagePixels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", batch, " x 28 x 28 = ", static_cast<int64_t>(batch) * kImagePixels,
        " pixels, got ", images.size()));
  }
  // The device is per host thread, and a worker's thread need not be the one that created us.
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaSetDevice", cudaSetDevice(e.options.device));
  if (absl::Status st = e.Reserve(batch); !st.ok()) return st;
  std::memcpy(e.host_images.get(), images.data(), images.size() * sizeof(float));
  const bool graph = e.options.use_graphs && e.graphs_off_reason.empty();
  if (absl::Status st = graph ? e.LaunchGraph(*s, batch) : e.Enqueue(*s, batch); !st.ok()) {
    return st;
  }
  TERNSERVE_CUDA_RETURN_IF_ERROR("cudaStreamSynchronize", cudaStreamSynchronize(e.stream));
  const int classes = s->fc.weights.out_channels;
  return LogitsView{As<float>(e.host_logits), batch, classes, PaddedChannels(classes)};
}

}  // namespace ternserve
