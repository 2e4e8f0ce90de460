// LibTorch end-to-end baselines (see torch_nets.h). c10::Error is caught here, at the edge.
#include "bench/torch_nets.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "models/static_net.h"

namespace ternserve::bench {
namespace {

size_t TensorBytes(const torch::Tensor& t) { return t.numel() * t.element_size(); }

size_t StaticNetWeightBytes(const StaticNet& net) {
  size_t bytes = TensorBytes(net.stem.weight) + TensorBytes(net.stem.bias) +
                 TensorBytes(net.fc_weight) + TensorBytes(net.fc_bias);
  for (const StaticBlock& block : net.blocks) {
    bytes += TensorBytes(block.conv1.weight) + TensorBytes(block.conv1.bias) +
             TensorBytes(block.conv2.weight) + TensorBytes(block.conv2.bias);
    if (block.shortcut)
      bytes += TensorBytes(block.shortcut->weight) + TensorBytes(block.shortcut->bias);
  }
  return bytes;
}

torch::Tensor ImagesTensor(absl::Span<const float> images, int batch) {
  return torch::from_blob(const_cast<float*>(images.data()), {batch, 1, kImageSide, kImageSide});
}

absl::Status CheckImages(absl::Span<const float> images, int batch) {
  if (batch <= 0 || images.size() != static_cast<size_t>(batch) * kImagePixels) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", batch, " x ", kImagePixels, " pixels, got ", images.size()));
  }
  return absl::OkStatus();
}

std::vector<float> ToVector(const torch::Tensor& logits) {
  const torch::Tensor dense = logits.contiguous();
  return std::vector<float>(dense.data_ptr<float>(), dense.data_ptr<float>() + dense.numel());
}

// ---- fp32: TorchScript, frozen, optimized for inference ----

// TorchScript source for `net`'s forward, reading its tensors as parameters named in `params`.
std::string ForwardSource(const StaticNet& net,
                          std::vector<std::pair<std::string, torch::Tensor>>* params) {
  const auto conv = [&](const std::string& name, const StaticConv& c, const std::string& x) {
    params->emplace_back(name + "_w", c.weight);
    params->emplace_back(name + "_b", c.bias);
    return absl::StrFormat("torch.conv2d(%s, self.%s_w, self.%s_b, [%d, %d], [%d, %d])", x, name,
                           name, c.stride, c.stride, c.padding, c.padding);
  };
  std::string src = "def forward(self, x):\n";
  src += absl::StrFormat("    h = (x - %.9g) / %.9g\n", net.input_mean, net.input_std);
  src += absl::StrCat("    h = torch.relu(", conv("stem", net.stem, "h"), ")\n");
  for (size_t i = 0; i < net.blocks.size(); ++i) {
    const StaticBlock& block = net.blocks[i];
    const std::string b = absl::StrCat("b", i);
    src += absl::StrCat("    y = torch.relu(", conv(b + "_conv1", block.conv1, "h"), ")\n");
    src += absl::StrCat("    y = ", conv(b + "_conv2", block.conv2, "y"), "\n");
    const std::string shortcut = block.shortcut ? conv(b + "_shortcut", *block.shortcut, "h") : "h";
    src += absl::StrCat("    h = torch.relu(y + ", shortcut, ")\n");
  }
  params->emplace_back("fc_w", net.fc_weight);
  params->emplace_back("fc_b", net.fc_bias);
  src += "    h = torch.flatten(torch.adaptive_avg_pool2d(h, [1, 1]), 1)\n";
  src += "    return torch.linear(h, self.fc_w, self.fc_b)\n";
  return src;
}

class FrozenFp32Net final : public SubnetRunner {
 public:
  FrozenFp32Net(torch::jit::Module module, size_t weight_bytes)
      : module_(std::move(module)), weight_bytes_(weight_bytes) {}

  absl::StatusOr<std::vector<float>> Run(absl::Span<const float> images, int batch) override {
    if (absl::Status s = CheckImages(images, batch); !s.ok()) return s;
    try {
      c10::InferenceMode inference;
      return ToVector(module_.forward({ImagesTensor(images, batch)}).toTensor());
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("frozen fp32 net: ", e.what_without_backtrace()));
    }
  }
  size_t weight_bytes() const override { return weight_bytes_; }

 private:
  torch::jit::Module module_;
  const size_t weight_bytes_;
};

// ---- int8: quantized oneDNN ops ----

c10::IValue CallOp(const char* name, const char* overload, std::vector<c10::IValue> args) {
  c10::Dispatcher::singleton().findSchemaOrThrow(name, overload).callBoxed(&args);
  return std::move(args.at(0));
}

// Min/max of everything a quantized tensor will hold, then its quint8 (scale, zero point).
struct Range {
  float min = 0.0f;  // always includes 0, so real 0 is exactly representable
  float max = 0.0f;
  void Observe(const torch::Tensor& t) {
    min = std::min(min, t.min().item<float>());
    max = std::max(max, t.max().item<float>());
  }
  double scale() const { return std::max(max - min, 1e-6f) / 255.0; }
  int64_t zero_point() const { return std::clamp<int64_t>(std::llround(-min / scale()), 0, 255); }
};

struct QConv {
  c10::IValue packed;
  Range out;
};

struct QBlock {
  QConv conv1, conv2;
  std::optional<QConv> shortcut;
  Range sum;  // after add_relu
};

c10::IValue Prepack(const StaticConv& c) {
  const torch::Tensor w = c.weight;
  const torch::Tensor scales =
      (w.abs().amax({1, 2, 3}).clamp_min(1e-12) / 127.0).to(torch::kDouble);
  const torch::Tensor qw =
      at::quantize_per_channel(w, scales, torch::zeros({w.size(0)}, torch::kLong), 0, at::kQInt8);
  const std::vector<int64_t> stride = {c.stride, c.stride};
  const std::vector<int64_t> padding = {c.padding, c.padding};
  return CallOp("quantized::conv2d_prepack", "",
                {qw, c.bias, stride, padding, std::vector<int64_t>{1, 1}, int64_t{1}});
}

// int8 weights, an fp32 scale per output channel, fp32 bias.
size_t Int8Bytes(const StaticConv& c) {
  return c.weight.numel() + sizeof(float) * c.weight.size(0) + TensorBytes(c.bias);
}

class OnednnInt8Net final : public SubnetRunner {
 public:
  OnednnInt8Net(StaticNet net, absl::Span<const float> calibration, int count)
      : net_(std::move(net)),
        conv_(c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d", "new")),
        conv_relu_(c10::Dispatcher::singleton().findSchemaOrThrow("quantized::conv2d_relu", "new")),
        add_relu_(c10::Dispatcher::singleton().findSchemaOrThrow("quantized::add_relu", "")) {
    stem_.packed = Prepack(net_.stem);
    for (const StaticBlock& b : net_.blocks) {
      QBlock q;
      q.conv1.packed = Prepack(b.conv1);
      q.conv2.packed = Prepack(b.conv2);
      if (b.shortcut) q.shortcut = QConv{Prepack(*b.shortcut), {}};
      blocks_.push_back(std::move(q));
      weight_bytes_ +=
          Int8Bytes(b.conv1) + Int8Bytes(b.conv2) + (b.shortcut ? Int8Bytes(*b.shortcut) : 0);
    }
    weight_bytes_ += Int8Bytes(net_.stem) + TensorBytes(net_.fc_weight) + TensorBytes(net_.fc_bias);
    Calibrate(ImagesTensor(calibration, count));
  }

  absl::StatusOr<std::vector<float>> Run(absl::Span<const float> images, int batch) override {
    if (absl::Status s = CheckImages(images, batch); !s.ok()) return s;
    try {
      c10::InferenceMode inference;
      const torch::Tensor x = (ImagesTensor(images, batch) - net_.input_mean) / net_.input_std;
      torch::Tensor h = at::quantize_per_tensor(x, input_.scale(), input_.zero_point(), at::kQUInt8)
                            .contiguous(at::MemoryFormat::ChannelsLast);
      h = Conv(conv_relu_, h, stem_);
      for (const QBlock& b : blocks_) {
        const torch::Tensor y = Conv(conv_, Conv(conv_relu_, h, b.conv1), b.conv2);
        const torch::Tensor s = b.shortcut ? Conv(conv_, h, *b.shortcut) : h;
        h = Call(add_relu_, {y, s, b.sum.scale(), b.sum.zero_point()});
      }
      const torch::Tensor pooled = h.dequantize().mean({2, 3});
      return ToVector(torch::addmm(net_.fc_bias, pooled, net_.fc_weight.t()));
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("int8 net: ", e.what_without_backtrace()));
    }
  }
  size_t weight_bytes() const override { return weight_bytes_; }

 private:
  static torch::Tensor Call(const c10::OperatorHandle& op, std::vector<c10::IValue> args) {
    op.callBoxed(&args);
    return args.at(0).toTensor();
  }
  static torch::Tensor Conv(const c10::OperatorHandle& op, const torch::Tensor& x, const QConv& c) {
    return Call(op, {x, c.packed, c.out.scale(), c.out.zero_point()});
  }

  // Runs the fp32 network with the same structure and records each quantized tensor's range.
  void Calibrate(const torch::Tensor& images) {
    c10::InferenceMode inference;
    const auto conv = [](const StaticConv& c, const torch::Tensor& x) {
      return torch::conv2d(x, c.weight, c.bias, c.stride, c.padding);
    };
    const torch::Tensor x = (images - net_.input_mean) / net_.input_std;
    input_.Observe(x);
    torch::Tensor h = torch::relu(conv(net_.stem, x));
    stem_.out.Observe(h);
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const StaticBlock& b = net_.blocks[i];
      QBlock& q = blocks_[i];
      const torch::Tensor y1 = torch::relu(conv(b.conv1, h));
      q.conv1.out.Observe(y1);
      const torch::Tensor y2 = conv(b.conv2, y1);
      q.conv2.out.Observe(y2);
      torch::Tensor s = h;
      if (b.shortcut) {
        s = conv(*b.shortcut, h);
        q.shortcut->out.Observe(s);
      }
      h = torch::relu(y2 + s);
      q.sum.Observe(h);
    }
  }

  const StaticNet net_;
  const c10::OperatorHandle conv_, conv_relu_, add_relu_;
  Range input_;
  QConv stem_;
  std::vector<QBlock> blocks_;
  size_t weight_bytes_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SubnetRunner>> CreateFrozenFp32Net(const Bundle& bundle,
                                                                  const SubnetMeta& subnet) try {
  const StaticNet net = StaticNetFromBundle(bundle, subnet);
  std::vector<std::pair<std::string, torch::Tensor>> params;
  const std::string source = ForwardSource(net, &params);
  torch::jit::Module module(absl::StrCat("StaticNet_", subnet.id));
  for (const auto& [name, tensor] : params) module.register_parameter(name, tensor, false);
  module.define(source);
  module.eval();
  torch::jit::Module frozen = torch::jit::freeze(module);
  torch::jit::Module optimized = torch::jit::optimize_for_inference(frozen);
  return std::make_unique<FrozenFp32Net>(std::move(optimized), StaticNetWeightBytes(net));
} catch (const c10::Error& e) {
  return absl::InternalError(absl::StrCat("building the frozen fp32 network of sub-net ",
                                          subnet.name, ": ", e.what_without_backtrace()));
}

absl::StatusOr<std::unique_ptr<SubnetRunner>> CreateOnednnInt8Net(
    const Bundle& bundle, const SubnetMeta& subnet, absl::Span<const float> calibration,
    int count) try {
  if (absl::Status s = CheckImages(calibration, count); !s.ok()) return s;
  return std::make_unique<OnednnInt8Net>(StaticNetFromBundle(bundle, subnet), calibration, count);
} catch (const c10::Error& e) {
  return absl::InternalError(absl::StrCat("building the int8 network of sub-net ", subnet.name,
                                          ": ", e.what_without_backtrace()));
}

}  // namespace ternserve::bench
