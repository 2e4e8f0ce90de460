// The inference interface every serving engine implements (docs/architecture.md, "Engines").
//
// An Engine runs one batch at a time: it is NOT thread-safe, and a server holds one instance per
// worker. Engines are created from a Bundle, which must outlive them.
#ifndef TERNSERVE_MODELS_ENGINE_H_
#define TERNSERVE_MODELS_ENGINE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ternserve {

// The logits of one batch, in the engine's own output buffer: row n (n < batch) is num_classes
// floats starting at data + n * row_stride. Valid until the engine's next Run or its destruction,
// so a caller copies each row once, straight to where it is needed.
struct LogitsView {
  const float* data = nullptr;
  int batch = 0;
  int num_classes = 0;
  int row_stride = 0;  // >= num_classes (an engine may pad its rows)

  absl::Span<const float> row(int n) const {
    return absl::MakeConstSpan(data + static_cast<std::ptrdiff_t>(n) * row_stride,
                               static_cast<size_t>(num_classes));
  }
  // batch x num_classes, row-major: a copy, for tests and benchmarks.
  std::vector<float> ToVector() const {
    std::vector<float> out;
    out.reserve(static_cast<size_t>(batch) * static_cast<size_t>(num_classes));
    for (int n = 0; n < batch; ++n) out.insert(out.end(), row(n).begin(), row(n).end());
    return out;
  }
};

class Engine {
 public:
  virtual ~Engine() = default;

  // Runs `batch` images (batch x 1 x 28 x 28 floats, row-major, pixel values in [0, 1]; the engine
  // applies the model's normalization) through sub-net `subnet_id` of the bundle. Returns a view
  // of the batch's logits (see LogitsView). INVALID_ARGUMENT for an unknown sub-net or a size
  // mismatch.
  virtual absl::StatusOr<LogitsView> Run(int subnet_id, absl::Span<const float> images,
                                         int batch) = 0;

  // "torch", "ternary", ...
  virtual std::string name() const = 0;
  // The kernel variant it runs ("avx2", ...); empty for an engine without variants.
  virtual std::string isa() const { return ""; }
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_ENGINE_H_
