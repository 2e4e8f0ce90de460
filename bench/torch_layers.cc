// LibTorch per-layer baselines (see torch_layers.h). c10::Error is caught here, at the edge.
#include "bench/torch_layers.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/torch.h>

#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ternserve::bench {

struct TorchConvLayer::Impl {
  std::function<void()> run;
};

namespace {

// Boxed calls through the dispatcher: the quantized ops' packed-weight type is a TorchScript custom
// class whose C++ header Debian's libtorch-dev does not ship. A boxed call costs ~1 us, under 3%
// of the smallest layer measured here.
c10::IValue CallOp(const char* name, const char* overload, std::vector<c10::IValue> args) {
  const c10::OperatorHandle op = c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
  op.callBoxed(&args);
  return std::move(args.at(0));
}

std::vector<int64_t> Pair(int v) { return {v, v}; }

}  // namespace

const char* Fp32LayoutName(Fp32Layout layout) {
  switch (layout) {
    case Fp32Layout::kNchw:
      return "nchw";
    case Fp32Layout::kChannelsLast:
      return "channels_last";
    case Fp32Layout::kMkldnn:
      return "mkldnn";
  }
  return "?";
}

const std::vector<Fp32Layout>& AllFp32Layouts() {
  static const std::vector<Fp32Layout> kAll = {Fp32Layout::kNchw, Fp32Layout::kChannelsLast,
                                               Fp32Layout::kMkldnn};
  return kAll;
}

void SetTorchThreads(int threads) {
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
}

absl::Status UseOnednnQuantizedEngine() {
  std::vector<std::string> names;
  bool found = false;
  for (at::QEngine engine : at::globalContext().supportedQEngines()) {
    names.push_back(c10::toString(engine));
    found = found || engine == at::QEngine::ONEDNN;
  }
  if (!found) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this LibTorch has no oneDNN quantized engine (it has: ", absl::StrJoin(names, ", "), ")"));
  }
  at::globalContext().setQEngine(at::QEngine::ONEDNN);
  return absl::OkStatus();
}

TorchConvLayer::TorchConvLayer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TorchConvLayer::~TorchConvLayer() = default;

void TorchConvLayer::Run() {
  c10::InferenceMode inference;
  impl_->run();
}

absl::StatusOr<std::unique_ptr<TorchConvLayer>> TorchConvLayer::CreateFp32(
    const kernels::ConvCase& shape, int batch, Fp32Layout layout) try {
  c10::InferenceMode inference;
  torch::manual_seed(1);
  const int pad = shape.kernel / 2;
  torch::Tensor x = torch::relu(torch::randn({batch, shape.in_channels, shape.in_h, shape.in_w}));
  torch::Tensor w =
      torch::randn({shape.out_channels, shape.in_channels, shape.kernel, shape.kernel}) * 0.05;
  torch::Tensor b = torch::randn({shape.out_channels}) * 0.1;
  auto impl = std::make_unique<Impl>();
  switch (layout) {
    case Fp32Layout::kNchw:
      impl->run = [=] { torch::conv2d(x, w, b, shape.stride, pad).relu_(); };
      break;
    case Fp32Layout::kChannelsLast: {
      const torch::Tensor xc = x.contiguous(at::MemoryFormat::ChannelsLast);
      const torch::Tensor wc = w.contiguous(at::MemoryFormat::ChannelsLast);
      impl->run = [=] { torch::conv2d(xc, wc, b, shape.stride, pad).relu_(); };
      break;
    }
    case Fp32Layout::kMkldnn: {
      const torch::Tensor xm = x.to_mkldnn();
      const torch::Tensor wm =
          at::mkldnn_reorder_conv2d_weight(w.to_mkldnn(), Pair(pad), Pair(shape.stride), {1, 1}, 1);
      impl->run = [=] {
        at::mkldnn_convolution(xm, wm, b, Pair(pad), Pair(shape.stride), {1, 1}, 1).relu_();
      };
      break;
    }
  }
  impl->run();  // fail here, not inside the timing loop, if the layout is unsupported
  return std::unique_ptr<TorchConvLayer>(new TorchConvLayer(std::move(impl)));
} catch (const c10::Error& e) {
  return absl::InternalError(
      absl::StrCat("fp32 ", Fp32LayoutName(layout), " conv: ", e.what_without_backtrace()));
}

absl::StatusOr<std::unique_ptr<TorchConvLayer>> TorchConvLayer::CreateInt8(
    const kernels::ConvCase& shape, int batch) try {
  c10::InferenceMode inference;
  torch::manual_seed(1);
  const int pad = shape.kernel / 2;
  const torch::Tensor x =
      torch::relu(torch::randn({batch, shape.in_channels, shape.in_h, shape.in_w}));
  const torch::Tensor qx =
      at::quantize_per_tensor(x, 0.05, 0, at::kQUInt8).contiguous(at::MemoryFormat::ChannelsLast);
  const torch::Tensor w =
      torch::randn({shape.out_channels, shape.in_channels, shape.kernel, shape.kernel}) * 0.05;
  const torch::Tensor w_scale = w.abs().amax({1, 2, 3}).clamp_min(1e-8) / 127.0;
  const torch::Tensor qw =
      at::quantize_per_channel(w, w_scale.to(torch::kDouble),
                               torch::zeros({shape.out_channels}, torch::kLong), 0, at::kQInt8);
  const c10::IValue packed =
      CallOp("quantized::conv2d_prepack", "",
             {qw, c10::IValue(), Pair(shape.stride), Pair(pad), Pair(1), int64_t{1}});
  const c10::OperatorHandle conv =
      c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d_relu", "new");
  auto impl = std::make_unique<Impl>();
  impl->run = [=] {
    std::vector<c10::IValue> stack = {qx, packed, 0.05, int64_t{0}};
    conv.callBoxed(&stack);
  };
  impl->run();
  return std::unique_ptr<TorchConvLayer>(new TorchConvLayer(std::move(impl)));
} catch (const c10::Error& e) {
  return absl::InternalError(absl::StrCat("int8 conv: ", e.what_without_backtrace()));
}

}  // namespace ternserve::bench
