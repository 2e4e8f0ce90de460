#include "bench/layer_shapes.h"

#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace ternserve::bench {

std::string ConvLayerShape::Describe() const {
  return absl::StrCat(kernel, "x", kernel, "/", stride, " ", in_channels, "->", out_channels, " ",
                      in_size, "x", in_size);
}

std::vector<ConvLayerShape> DistinctConvShapes(const ArchConfig& arch) {
  const auto ends_with = [](const std::string& name, const char* suffix) {
    return absl::EndsWith(name, suffix);
  };
  std::vector<ConvLayerShape> shapes;
  // Spatial sizes: the current block's input, its conv1 output, the previous block's output. conv1
  // and the shortcut read the block input; conv2 reads conv1's output.
  int block_in = kImageSide, conv1_out = kImageSide, block_out = kImageSide;
  for (const LayerSpec& layer : SupernetLayers(arch)) {
    if (layer.name == "fc") continue;
    int in_size = kImageSide;
    if (ends_with(layer.name, "conv1")) {
      block_in = block_out;
      in_size = block_in;
    } else if (ends_with(layer.name, "conv2")) {
      in_size = conv1_out;
    } else if (layer.name != "stem") {  // the shortcut
      in_size = block_in;
    }
    const ConvLayerShape shape{layer.name,   layer.in_channels, layer.out_channels,
                               layer.kernel, layer.stride,      in_size};
    if (ends_with(layer.name, "conv1")) conv1_out = shape.out_size();
    if (ends_with(layer.name, "conv2") || layer.name == "stem") block_out = shape.out_size();

    const auto key = [](const ConvLayerShape& s) {
      return std::make_tuple(s.in_channels, s.out_channels, s.kernel, s.stride, s.in_size);
    };
    bool seen = false;
    for (const ConvLayerShape& s : shapes) seen = seen || key(s) == key(shape);
    if (!seen) shapes.push_back(shape);
  }
  return shapes;
}

}  // namespace ternserve::bench
