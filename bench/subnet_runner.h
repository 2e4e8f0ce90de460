// SubnetRunner: one contestant of the end-to-end suite, i.e. one sub-net of the bundle as some
// engine runs it (TernaryEngine, the frozen fp32 TorchScript network, the oneDNN int8 network).
//
// Not thread-safe: one batch at a time, like an Engine. No LibTorch in this header.
#ifndef TERNSERVE_BENCH_SUBNET_RUNNER_H_
#define TERNSERVE_BENCH_SUBNET_RUNNER_H_

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ternserve::bench {

class SubnetRunner {
 public:
  virtual ~SubnetRunner() = default;
  // `batch` images (batch x 28 x 28 pixels in [0, 1]) -> batch x classes logits.
  virtual absl::StatusOr<std::vector<float>> Run(absl::Span<const float> images, int batch) = 0;
  // Bytes of weights the runner keeps resident for this sub-net (see each implementation).
  virtual size_t weight_bytes() const = 0;
};

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_SUBNET_RUNNER_H_
