// The distinct conv shapes of the SuperNet at full width, as the per-layer suite measures them.
//
// Derived from SupernetLayers() so the benchmark follows the architecture: every conv whose
// (in, out, kernel, stride, input size) is new is one shape, named after its first layer
// ("s1.b0.conv1"). At the default ArchConfig that is the stem, one 3x3 stride-1 conv per stage, the
// two 3x3 stride-2 convs and the two 1x1 stride-2 shortcuts. Value types; no LibTorch.
#ifndef TERNSERVE_BENCH_LAYER_SHAPES_H_
#define TERNSERVE_BENCH_LAYER_SHAPES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "models/arch.h"

namespace ternserve::bench {

struct ConvLayerShape {
  std::string name;  // the first SuperNet layer with this shape, e.g. "s1.b0.conv1"
  int in_channels = 0;
  int out_channels = 0;
  int kernel = 3;  // 3 (padding 1) or 1 (padding 0)
  int stride = 1;
  int in_size = 0;  // input height = width

  int out_size() const { return (in_size + 2 * (kernel / 2) - kernel) / stride + 1; }
  int64_t Macs(int batch) const {
    return static_cast<int64_t>(batch) * out_size() * out_size() * out_channels * in_channels *
           kernel * kernel;
  }
  // "3x3/2 32->64 28x28"
  std::string Describe() const;
};

std::vector<ConvLayerShape> DistinctConvShapes(const ArchConfig& arch);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_LAYER_SHAPES_H_
