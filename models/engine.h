// The inference interface every serving engine implements (DESIGN.md "Engines").
//
// An Engine runs one batch at a time: it is NOT thread-safe, and a server holds one instance per
// worker. Engines are created from a Bundle, which must outlive them.
#ifndef TERNSERVE_MODELS_ENGINE_H_
#define TERNSERVE_MODELS_ENGINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ternserve {

class Engine {
 public:
  virtual ~Engine() = default;

  // Runs `batch` images (batch x 1 x 28 x 28 floats, row-major, pixel values in [0, 1]; the engine
  // applies the model's normalization) through sub-net `subnet_id` of the bundle. Returns batch x
  // num_classes logits. INVALID_ARGUMENT for an unknown sub-net or a size mismatch.
  virtual absl::StatusOr<std::vector<float>> Run(int subnet_id, absl::Span<const float> images,
                                                 int batch) = 0;

  // "torch", "ternary", ...
  virtual std::string name() const = 0;
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_ENGINE_H_
