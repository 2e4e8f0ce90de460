// TernaryEngine as the end-to-end suite's ternary contestant (one engine shared by the sub-nets'
// runners, as the server shares it). No LibTorch.
#ifndef TERNSERVE_BENCH_TERNARY_E2E_H_
#define TERNSERVE_BENCH_TERNARY_E2E_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/subnet_runner.h"
#include "models/bundle.h"

namespace ternserve::bench {

struct TernaryRunners {
  std::string isa;  // the kernel variant the engine picked
  // One runner per requested sub-net id, in order, all sharing one engine; weight_bytes() is the
  // engine's resident_weight_bytes() (every layer at full width plus every sub-net's epilogue).
  std::vector<std::unique_ptr<SubnetRunner>> runners;
};

// One TernaryEngine for `bundle` (which must outlive the runners) with `threads` threads.
absl::StatusOr<TernaryRunners> CreateTernaryRunners(const Bundle& bundle,
                                                    const std::vector<int>& subnet_ids,
                                                    int threads);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_TERNARY_E2E_H_
