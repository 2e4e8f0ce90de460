#include "models/ternary_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/arch.h"
#include "models/kernels/conv_kernels.h"
#include "models/kernels/conv_params.h"
#include "models/kernels/ternary_blocks.h"
#include "models/thread_pool.h"

namespace ternserve {
namespace {

using kernels::ConvEpilogue;
using kernels::ConvInput;
using kernels::ConvShape;
using kernels::PackedTernaryConv;
using kernels::PaddedChannels;
using kernels::TernaryConvWeights;

// One conv (or the classifier) of one sub-net: a view into the shared full-width pack, and the
// sub-net's own epilogue (its BN folded with the weight and input scales).
struct SubnetConv {
  TernaryConvWeights weights;
  int stride = 1;
  std::vector<float> multiplier;  // weight scale[o] * input scale * BN scale[o]
  std::vector<float> bias;        // BN shift[o] (the classifier's bias for fc)
  float out_scale = 1.0f;         // u8 output scale; unused for fp32 outputs

  // The conv over a batch of side x side inputs.
  ConvShape Shape(int batch, int side) const {
    ConvShape shape;
    shape.batch = batch;
    shape.in_h = shape.in_w = side;
    shape.stride = stride;
    return shape;
  }
  // Its epilogue: BN, ReLU and u8 requantization into `out`...
  ConvEpilogue ToU8(uint8_t* out) const {
    ConvEpilogue e = Common();
    e.relu = true;
    e.out_u8 = out;
    e.out_scale = out_scale;
    return e;
  }
  // ... or BN and an fp32 output (the shortcut and the classifier: no ReLU).
  ConvEpilogue ToF32(float* out) const {
    ConvEpilogue e = Common();
    e.relu = false;
    e.out_f32 = out;
    return e;
  }

  // The parts both outputs share.
  ConvEpilogue Common() const {
    ConvEpilogue e;
    e.multiplier = multiplier.data();
    e.bias = bias.data();
    return e;
  }
};

struct SubnetBlock {
  SubnetConv conv1;                    // u8 out, scale = conv1's activation scale
  SubnetConv conv2;                    // u8 out, + residual, scale = block output's
  std::optional<SubnetConv> shortcut;  // fp32 out; identity (u8 residual) when empty
  float in_scale = 1.0f;               // the block input's scale (identity residual)
};

struct Subnet {
  const SubnetMeta* meta = nullptr;
  SubnetConv stem;
  std::vector<SubnetBlock> blocks;
  float last_scale = 1.0f;  // scale of the last block's output (the pool's input)
  float pool_scale = 1.0f;
  SubnetConv fc;  // fp32 logits
};

}  // namespace

struct TernaryEngine::Impl {
  const Bundle* bundle = nullptr;
  const kernels::TernaryConvKernel* kernel = nullptr;
  std::unique_ptr<ThreadPool> pool;
  kernels::StemQuantization stem_quant;
  std::map<std::string, PackedTernaryConv> packed;  // every layer at full width
  std::map<std::string, std::vector<float>> weight_scales;
  std::map<int, Subnet> subnets;

  // Per-batch buffers, grown on demand and reused.
  std::vector<uint8_t> stem_in, act_a, act_b, act_c, pooled;
  std::vector<float> shortcut, logits_padded;

  absl::Status Build();
  absl::StatusOr<SubnetConv> MakeConv(const SubnetMeta& meta, const LayerSpec& layer,
                                      float in_scale, float out_scale) const;
  // Runs one conv over all its output rows, split across the pool.
  void Conv(const SubnetConv& c, const ConvShape& shape, const ConvInput& input,
            const ConvEpilogue& epilogue);
  size_t SharedBytes() const;
  static size_t EpilogueBytes(const Subnet& s);
};

absl::StatusOr<SubnetConv> TernaryEngine::Impl::MakeConv(const SubnetMeta& meta,
                                                         const LayerSpec& layer, float in_scale,
                                                         float out_scale) const {
  SubnetConv c;
  const int out = SlicedOut(layer, meta.config), in = SlicedIn(layer, meta.config);
  if (!kernels::SliceTernaryConv(packed.at(layer.name), out, in, &c.weights)) {
    return absl::InternalError(absl::StrCat(layer.name, ": sub-net slice does not fit"));
  }
  c.stride = layer.stride;
  c.out_scale = out_scale;
  const std::vector<float>& w_scale = weight_scales.at(layer.name);
  std::vector<float> bn_scale(out, 1.0f), bn_shift(out, 0.0f);
  if (!layer.bn_name.empty()) {
    bundle->FoldedBn(meta.id, layer, &bn_scale, &bn_shift);
  } else {
    const TensorView bias = *bundle->Tensor("fc.bias");
    bn_shift.assign(bias.floats(), bias.floats() + out);
  }
  c.multiplier.resize(out);
  c.bias = std::move(bn_shift);
  for (int o = 0; o < out; ++o) c.multiplier[o] = w_scale[o] * in_scale * bn_scale[o];
  return c;
}

absl::Status TernaryEngine::Impl::Build() {
  const BundleMetadata& m = bundle->metadata();
  if (!m.ternary) {
    return absl::FailedPreconditionError(absl::StrCat(
        bundle->source(), ": quantizer \"", m.quantizer,
        "\" is not ternary; the ternary engine needs a ternary bundle (use --engine=torch)"));
  }
  for (const SubnetMeta& s : m.subnets) {
    if (s.activation_scales.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          bundle->source(), ": sub-net ", s.id, " (", s.name,
          ") has no calibrated activation scales; add them with `ternserve-train --calibrate=",
          bundle->source(), " --out=NEW.tsn` (or use --engine=torch)"));
    }
  }
  stem_quant = kernels::StemInputQuantization(m.input_mean, m.input_std);

  const std::vector<LayerSpec> layers = SupernetLayers(m.arch);
  for (const LayerSpec& layer : layers) {
    absl::StatusOr<TensorView> codes = bundle->Tensor(layer.name + ".codes");
    absl::StatusOr<TensorView> scale = bundle->Tensor(layer.name + ".scale");
    if (!codes.ok() || !scale.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(bundle->source(), ": no ternary codes/scale for layer ", layer.name));
    }
    PackedTernaryConv p;
    if (!kernels::RepackTernaryConv(codes->data, layer.out_channels, layer.in_channels,
                                    layer.kernel, layer.out_channels, layer.in_channels, &p)) {
      return absl::FailedPreconditionError(
          absl::StrCat(bundle->source(), ": cannot pack layer ", layer.name));
    }
    packed.emplace(layer.name, std::move(p));
    weight_scales.emplace(layer.name,
                          std::vector<float>(scale->floats(), scale->floats() + scale->numel()));
  }

  for (const SubnetMeta& meta : m.subnets) {
    Subnet s;
    s.meta = &meta;
    const auto& act = meta.activation_scales;
    float h_scale = act.at("stem");
    for (const LayerSpec& layer : layers) {
      if (!LayerActive(layer, meta.config)) continue;
      const std::string block = absl::StrCat("s", layer.stage, ".b", layer.block);
      absl::StatusOr<SubnetConv> conv;
      if (layer.name == "stem") {
        conv = MakeConv(meta, layer, stem_quant.scale, h_scale);
        if (conv.ok()) s.stem = *std::move(conv);
      } else if (layer.name == "fc") {
        conv = MakeConv(meta, layer, act.at("pool"), 1.0f);
        if (conv.ok()) s.fc = *std::move(conv);
      } else if (absl::EndsWith(layer.name, ".conv1")) {
        s.blocks.emplace_back();
        s.blocks.back().in_scale = h_scale;
        conv = MakeConv(meta, layer, h_scale, act.at(layer.name));
        if (conv.ok()) s.blocks.back().conv1 = *std::move(conv);
      } else if (absl::EndsWith(layer.name, ".conv2")) {
        conv = MakeConv(meta, layer, act.at(block + ".conv1"), act.at(block));
        if (conv.ok()) s.blocks.back().conv2 = *std::move(conv);
        h_scale = act.at(block);
      } else {  // 1x1 shortcut: reads the block input, fp32 output
        conv = MakeConv(meta, layer, s.blocks.back().in_scale, 1.0f);
        if (conv.ok()) s.blocks.back().shortcut = *std::move(conv);
      }
      if (!conv.ok()) return conv.status();
    }
    s.last_scale = h_scale;
    s.pool_scale = act.at("pool");
    subnets.emplace(meta.id, std::move(s));
  }
  return absl::OkStatus();
}

void TernaryEngine::Impl::Conv(const SubnetConv& c, const ConvShape& shape, const ConvInput& input,
                               const ConvEpilogue& epilogue) {
  const int64_t rows = shape.Rows(c.weights.kernel);
  // At most one chunk per thread, but at least one output row per chunk.
  const int chunks = static_cast<int>(std::min<int64_t>(pool->size(), rows));
  pool->ParallelFor(chunks, [&](int i) {
    ConvShape part = shape;
    part.row_begin = rows * i / chunks;
    part.row_end = rows * (i + 1) / chunks;
    kernel->conv(part, input, c.weights, epilogue);
  });
}

size_t TernaryEngine::Impl::SharedBytes() const {
  size_t bytes = 0;
  for (const auto& [name, p] : packed) bytes += p.bytes();
  for (const auto& [name, scales] : weight_scales) bytes += scales.size() * sizeof(float);
  return bytes;
}

size_t TernaryEngine::Impl::EpilogueBytes(const Subnet& s) {
  auto conv_bytes = [](const SubnetConv& c) {
    return (c.multiplier.size() + c.bias.size()) * sizeof(float);
  };
  size_t bytes = conv_bytes(s.stem) + conv_bytes(s.fc);
  for (const SubnetBlock& b : s.blocks) {
    bytes += conv_bytes(b.conv1) + conv_bytes(b.conv2);
    if (b.shortcut) bytes += conv_bytes(*b.shortcut);
  }
  return bytes;
}

TernaryEngine::TernaryEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TernaryEngine::~TernaryEngine() = default;

absl::StatusOr<std::unique_ptr<TernaryEngine>> TernaryEngine::Create(
    const Bundle& bundle, const TernaryEngineOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->bundle = &bundle;
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be >= 0 (0 = every core), got ", options.threads));
  }
  const kernels::CpuFeatures& cpu = options.cpu ? *options.cpu : kernels::DetectCpuFeatures();
  if (options.isa.empty()) {
    impl->kernel = &kernels::BestTernaryConvKernel(cpu);
  } else {
    impl->kernel = kernels::FindTernaryConvKernel(options.isa.c_str());
    size_t count = 0;
    const kernels::TernaryConvKernel* table = kernels::TernaryConvKernels(&count);
    std::vector<std::string> all, supported;
    for (size_t i = 0; i < count; ++i) {
      all.push_back(table[i].name);
      if (table[i].supported(cpu)) supported.push_back(table[i].name);
    }
    if (impl->kernel == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown ISA \"", options.isa, "\" (choose one of ", absl::StrJoin(all, ", "), ")"));
    }
    if (!impl->kernel->supported(cpu)) {
      return absl::FailedPreconditionError(
          absl::StrCat("this CPU lacks ", options.isa, " (",
                       kernels::MissingCpuFeatures(cpu, impl->kernel->required),
                       "; it supports: ", absl::StrJoin(supported, ", "), ")"));
    }
  }
  const int threads = options.threads > 0
                          ? options.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (absl::Status s = impl->Build(); !s.ok()) return s;
  impl->pool = std::make_unique<ThreadPool>(threads);
  return std::unique_ptr<TernaryEngine>(new TernaryEngine(std::move(impl)));
}

std::string TernaryEngine::isa() const { return impl_->kernel->name; }
int TernaryEngine::threads() const { return impl_->pool->size(); }
size_t TernaryEngine::resident_weight_bytes() const {
  size_t bytes = impl_->SharedBytes();
  for (const auto& [id, s] : impl_->subnets) bytes += Impl::EpilogueBytes(s);
  return bytes;
}

size_t TernaryEngine::resident_weight_bytes(int subnet_id) const {
  const auto it = impl_->subnets.find(subnet_id);
  return it == impl_->subnets.end() ? 0 : impl_->SharedBytes() + Impl::EpilogueBytes(it->second);
}

absl::StatusOr<LogitsView> TernaryEngine::Run(int subnet_id, absl::Span<const float> images,
                                              int batch) {
  Impl& e = *impl_;
  const auto it = e.subnets.find(subnet_id);
  if (it == e.subnets.end()) {
    return absl::InvalidArgumentError(absl::StrCat("no sub-net ", subnet_id, " in the bundle"));
  }
  constexpr int kSide = 28;
  if (batch < 1 || images.size() != static_cast<size_t>(batch) * kSide * kSide) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", batch, " x 28 x 28 = ", static_cast<int64_t>(batch) * kSide * kSide,
        " pixels, got ", images.size()));
  }
  const Subnet& s = it->second;
  const BundleMetadata& m = e.bundle->metadata();
  const SubnetConfig& config = s.meta->config;

  // Largest activation of the sub-net: the stem's output at full resolution, or a later stage's.
  size_t max_elements = 0;
  {
    int side = kSide;
    max_elements = static_cast<size_t>(batch) * side * side * PaddedChannels(config.widths[0]);
    for (int stage = 0; stage < kNumStages; ++stage) {
      side = (side + m.arch.strides[stage] - 1) / m.arch.strides[stage];
      max_elements = std::max(max_elements, static_cast<size_t>(batch) * side * side *
                                                PaddedChannels(config.widths[stage]));
    }
  }
  auto grow = [](auto& v, size_t n) {
    if (v.size() < n) v.resize(n);
  };
  grow(e.stem_in, static_cast<size_t>(batch) * kSide * kSide * kernels::kChannelAlign);
  grow(e.act_a, max_elements);
  grow(e.act_b, max_elements);
  grow(e.act_c, max_elements);
  grow(e.shortcut, max_elements);

  // Stem.
  kernels::QuantizeStemInput(images.data(), static_cast<int64_t>(batch) * kSide * kSide,
                             m.input_mean, m.input_std, e.stem_quant, e.stem_in.data());
  const ConvShape stem_shape = s.stem.Shape(batch, kSide);
  e.Conv(s.stem, stem_shape, ConvInput{e.stem_in.data(), e.stem_quant.zero_point},
         s.stem.ToU8(e.act_a.data()));
  int side = stem_shape.OutH(3);

  // Residual blocks: h (block input) -> t (conv1 output) -> out (block output).
  uint8_t* h = e.act_a.data();
  uint8_t* t = e.act_b.data();
  uint8_t* out = e.act_c.data();
  for (const SubnetBlock& b : s.blocks) {
    const ConvShape shape1 = b.conv1.Shape(batch, side);
    const int out_side = shape1.OutH(3);
    e.Conv(b.conv1, shape1, ConvInput{h, 0}, b.conv1.ToU8(t));

    ConvEpilogue e2 = b.conv2.ToU8(out);
    if (b.shortcut) {
      e.Conv(*b.shortcut, b.shortcut->Shape(batch, side), ConvInput{h, 0},
             b.shortcut->ToF32(e.shortcut.data()));
      e2.residual_f32 = e.shortcut.data();
    } else {
      e2.residual_u8 = h;
      e2.residual_scale = b.in_scale;
    }
    e.Conv(b.conv2, b.conv2.Shape(batch, out_side), ConvInput{t, 0}, e2);
    std::swap(h, out);
    side = out_side;
  }

  // Global average pool of the u8 features (scale last_scale), requantized to u8 for fc.
  const int channels = s.fc.weights.in_channels;
  const int stride = PaddedChannels(channels);
  grow(e.pooled, static_cast<size_t>(batch) * stride);
  const int pixels = side * side;
  const float to_pool = s.last_scale / (static_cast<float>(pixels) * s.pool_scale);
  for (int n = 0; n < batch; ++n) {
    uint8_t* dst = e.pooled.data() + static_cast<size_t>(n) * stride;
    std::fill(dst, dst + stride, 0);
    for (int c = 0; c < channels; ++c) {
      int32_t sum = 0;
      const uint8_t* src = h + static_cast<size_t>(n) * pixels * stride + c;
      for (int p = 0; p < pixels; ++p) sum += src[static_cast<size_t>(p) * stride];
      float q = static_cast<float>(sum) * to_pool;
      q = std::min(std::max(q, 0.0f), 255.0f);
      dst[c] = static_cast<uint8_t>(std::nearbyint(q));
    }
  }

  // Classifier: ternary linear to fp32 logits.
  const int classes = s.fc.weights.out_channels;
  const int class_stride = PaddedChannels(classes);
  grow(e.logits_padded, static_cast<size_t>(batch) * class_stride);
  kernels::TernaryLinear(*e.kernel, batch, ConvInput{e.pooled.data(), 0}, s.fc.weights,
                         s.fc.ToF32(e.logits_padded.data()));
  return LogitsView{e.logits_padded.data(), batch, classes, class_stride};
}

}  // namespace ternserve
