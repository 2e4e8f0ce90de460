// Stem input quantization (conv_params.h).
#include "models/kernels/conv_params.h"

#include <cstring>

#include "models/kernels/ternary_blocks.h"

namespace ternserve::kernels {

StemQuantization StemInputQuantization(float mean, float std) {
  StemQuantization q;
  q.scale = 1.0f / (255.0f * std);
  q.zero_point = static_cast<int32_t>(std::nearbyint(255.0f * mean));
  if (q.zero_point < 0) q.zero_point = 0;
  if (q.zero_point > 255) q.zero_point = 255;
  return q;
}

void QuantizeStemInput(const float* pixels, int64_t count, float mean, float std,
                       const StemQuantization& q, uint8_t* out) {
  std::memset(out, 0, static_cast<size_t>(count) * kChannelAlign);
  for (int64_t i = 0; i < count; ++i) {
    const float x = (pixels[i] - mean) / std;
    float v = std::nearbyint(x / q.scale) + static_cast<float>(q.zero_point);
    v = v > 0.0f ? v : 0.0f;
    v = v < 255.0f ? v : 255.0f;
    out[i * kChannelAlign] = static_cast<uint8_t>(v);
  }
}

}  // namespace ternserve::kernels
