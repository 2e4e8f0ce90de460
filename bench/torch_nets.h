// The LibTorch baselines of the end-to-end suite: a bundle's sub-net as the static fp32 network a
// careful LibTorch user would deploy, and that network quantized to int8 on oneDNN.
//
// Both start from StaticNetFromBundle (sliced, dequantized weights; the sub-net's BN folded into
// each conv), so they compute what TernaryEngine computes. LibTorch-free header; the torch code is
// in torch_nets.cc. The runners use LibTorch's global thread pool (see SetTorchThreads).
#ifndef TERNSERVE_BENCH_TORCH_NETS_H_
#define TERNSERVE_BENCH_TORCH_NETS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "bench/subnet_runner.h"
#include "models/bundle.h"

namespace ternserve::bench {

// The network as a TorchScript module (compiled from generated source: the C++ API has no
// torch.jit.trace), then torch::jit::freeze and torch::jit::optimize_for_inference, which turns
// its convs into prepacked oneDNN convs with fused ReLU. anchor-bench/frozen_bench.py times the
// same pipeline from Python. weight_bytes() counts the fp32 conv and linear weights and biases.
absl::StatusOr<std::unique_ptr<SubnetRunner>> CreateFrozenFp32Net(const Bundle& bundle,
                                                                  const SubnetMeta& subnet);

// The network quantized to int8, as FX post-training quantization for oneDNN would make it: a
// quint8 input, quantized::conv2d_relu / conv2d with per-channel qint8 weights (exact here: a
// folded ternary weight is one scale per channel times {-1, 0, +1}), quantized::add_relu for the
// residual, dequantize before the average pool and the fp32 classifier. Activation scales and zero
// points are min/max calibrated by running the fp32 network on `calibration` (count x 28 x 28
// pixels). Call UseOnednnQuantizedEngine first. weight_bytes() counts int8 weights, their scales
// and fp32 biases.
absl::StatusOr<std::unique_ptr<SubnetRunner>> CreateOnednnInt8Net(
    const Bundle& bundle, const SubnetMeta& subnet, absl::Span<const float> calibration, int count);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_TORCH_NETS_H_
