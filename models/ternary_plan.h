// TernaryPlan: what every engine on the ternary kernels runs, built once from a bundle. Each layer
// of the SuperNet is packed once at full width (kernels::PackedTernaryConv, shared by every
// sub-net: a sub-net's weights are a prefix of each layer's), and each sub-net gets its own list
// of convs, each a view into those packs plus its own epilogue (BN folded with the weight and
// input scales into per-channel multipliers and biases, and its u8 output scale).
//
// TernaryEngine runs a plan on the CPU kernels; CudaEngine uploads the same packs and epilogues to
// a GPU and runs the same sequence there, so both compute the same integers and floats.
//
// The activation flow a plan describes (per batch): pixels -> u8 (the stem's input quantization)
// -> stem conv -> per residual block: conv1 (u8 out) -> conv2 (+ residual: the block input, u8,
// or the 1x1 shortcut's fp32 output; u8 out) -> global average pool, requantized to u8 -> fc, fp32
// logits.
//
// A plan is immutable after Build and safe to read from any thread. Views (SubnetConv::weights,
// SubnetConv::packed, Subnet::meta) point into the plan and the bundle: neither may move or die
// while it is used. No LibTorch, no CUDA.
#ifndef TERNSERVE_MODELS_TERNARY_PLAN_H_
#define TERNSERVE_MODELS_TERNARY_PLAN_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/arch.h"
#include "models/bundle.h"
#include "models/kernels/conv_params.h"
#include "models/kernels/ternary_blocks.h"

namespace ternserve {

// One conv (or the classifier) of one sub-net: a view into the shared full-width pack, and the
// sub-net's own epilogue (its BN folded with the weight and input scales).
struct SubnetConv {
  kernels::TernaryConvWeights weights;
  // The full-width pack `weights` is a slice of (owned by the plan): an engine that copies the
  // packs elsewhere (a GPU) rebases `weights.blocks` onto its copy of this pack.
  const kernels::PackedTernaryConv* packed = nullptr;
  int stride = 1;
  std::vector<float> multiplier;  // weight scale[o] * input scale * BN scale[o]
  std::vector<float> bias;        // BN shift[o] (the classifier's bias for fc)
  float out_scale = 1.0f;         // u8 output scale; unused for fp32 outputs

  // The conv over a batch of side x side inputs.
  kernels::ConvShape Shape(int batch, int side) const {
    kernels::ConvShape shape;
    shape.batch = batch;
    shape.in_h = shape.in_w = side;
    shape.stride = stride;
    return shape;
  }
  // Its epilogue: BN, ReLU and u8 requantization into `out`...
  kernels::ConvEpilogue ToU8(uint8_t* out) const {
    kernels::ConvEpilogue e = Common();
    e.relu = true;
    e.out_u8 = out;
    e.out_scale = out_scale;
    return e;
  }
  // ... or BN and an fp32 output (the shortcut and the classifier: no ReLU).
  kernels::ConvEpilogue ToF32(float* out) const {
    kernels::ConvEpilogue e = Common();
    e.relu = false;
    e.out_f32 = out;
    return e;
  }
  // The parts both outputs share (host pointers to multiplier and bias).
  kernels::ConvEpilogue Common() const {
    kernels::ConvEpilogue e;
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

// Global average pool of the last block's u8 output, requantized to the pool's u8 scale:
// q = clamp(float(sum of `pixels` values) * to_pool, 0, 255), rounded half to even, with
// to_pool = last_scale / (pixels * pool_scale) computed once in float, as here.
inline float PoolMultiplier(const Subnet& s, int pixels) {
  return s.last_scale / (static_cast<float>(pixels) * s.pool_scale);
}

struct TernaryPlan {
  // FAILED_PRECONDITION if the bundle is not ternary (`engine_name` names the engine in the
  // message), a sub-net has no calibrated activation scales, or a layer's codes are missing or do
  // not pack. The bundle must outlive the plan.
  static absl::StatusOr<std::unique_ptr<TernaryPlan>> Build(const Bundle& bundle,
                                                            const std::string& engine_name);

  // Bytes of the shared packs and weight scales (every layer at full width).
  size_t SharedBytes() const;
  // Bytes of a sub-net's own epilogue (multipliers and biases).
  static size_t EpilogueBytes(const Subnet& s);
  // The sub-net of that id; null if there is none.
  const Subnet* Find(int subnet_id) const;
  // Elements (bytes for u8, floats for the shortcut) of the largest activation tensor of the
  // sub-net at `batch`, channel-padded: the stem's output at full resolution, or a later stage's.
  size_t MaxActivationElements(const Subnet& s, int batch) const;

  const Bundle* bundle = nullptr;
  kernels::StemQuantization stem_quant;
  std::map<std::string, kernels::PackedTernaryConv> packed;  // every layer at full width
  std::map<std::string, std::vector<float>> weight_scales;
  std::map<int, Subnet> subnets;  // by sub-net id
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_TERNARY_PLAN_H_
