#include "models/ternary_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/kernels/conv_kernels.h"
#include "models/kernels/conv_params.h"
#include "models/kernels/ternary_blocks.h"
#include "models/ternary_plan.h"
#include "models/thread_pool.h"

namespace ternserve {

using kernels::ConvEpilogue;
using kernels::ConvInput;
using kernels::ConvShape;
using kernels::PaddedChannels;

struct TernaryEngine::Impl {
  const kernels::TernaryConvKernel* kernel = nullptr;
  std::unique_ptr<ThreadPool> pool;
  std::unique_ptr<TernaryPlan> plan;  // packs, epilogues, sub-nets (models/ternary_plan.h)

  // Per-batch buffers, grown on demand and reused.
  std::vector<uint8_t> stem_in, act_a, act_b, act_c, pooled;
  std::vector<float> shortcut, logits_padded;

  // Runs one conv over all its output rows, split across the pool.
  void Conv(const SubnetConv& c, const ConvShape& shape, const ConvInput& input,
            const ConvEpilogue& epilogue);
};

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

TernaryEngine::TernaryEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TernaryEngine::~TernaryEngine() = default;

absl::StatusOr<std::unique_ptr<TernaryEngine>> TernaryEngine::Create(
    const Bundle& bundle, const TernaryEngineOptions& options) {
  auto impl = std::make_unique<Impl>();
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
  absl::StatusOr<std::unique_ptr<TernaryPlan>> plan = TernaryPlan::Build(bundle, "ternary");
  if (!plan.ok()) return plan.status();
  impl->plan = *std::move(plan);
  impl->pool = std::make_unique<ThreadPool>(threads);
  return std::unique_ptr<TernaryEngine>(new TernaryEngine(std::move(impl)));
}

std::string TernaryEngine::isa() const { return impl_->kernel->name; }
int TernaryEngine::threads() const { return impl_->pool->size(); }
size_t TernaryEngine::resident_weight_bytes() const {
  size_t bytes = impl_->plan->SharedBytes();
  for (const auto& [id, s] : impl_->plan->subnets) bytes += TernaryPlan::EpilogueBytes(s);
  return bytes;
}

size_t TernaryEngine::resident_weight_bytes(int subnet_id) const {
  const Subnet* s = impl_->plan->Find(subnet_id);
  return s == nullptr ? 0 : impl_->plan->SharedBytes() + TernaryPlan::EpilogueBytes(*s);
}

absl::StatusOr<LogitsView> TernaryEngine::Run(int subnet_id, absl::Span<const float> images,
                                              int batch) {
  Impl& e = *impl_;
  const Subnet* found = e.plan->Find(subnet_id);
  if (found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("no sub-net ", subnet_id, " in the bundle"));
  }
  constexpr int kSide = kImageSide;
  if (batch < 1 || images.size() != static_cast<size_t>(batch) * kSide * kSide) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected ", batch, " x 28 x 28 = ", static_cast<int64_t>(batch) * kSide * kSide,
        " pixels, got ", images.size()));
  }
  const Subnet& s = *found;
  const BundleMetadata& m = e.plan->bundle->metadata();
  const kernels::StemQuantization& stem_quant = e.plan->stem_quant;
  const size_t max_elements = e.plan->MaxActivationElements(s, batch);
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
                             m.input_mean, m.input_std, stem_quant, e.stem_in.data());
  const ConvShape stem_shape = s.stem.Shape(batch, kSide);
  e.Conv(s.stem, stem_shape, ConvInput{e.stem_in.data(), stem_quant.zero_point},
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
  const float to_pool = PoolMultiplier(s, pixels);
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
