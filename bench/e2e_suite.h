// The end-to-end suite: the bundle's largest sub-net, its middle one (the lower median by MACs) and
// its smallest, batch 1 and 32, 2 threads (--e2e_threads), as three side-by-side columns in ms per
// batch: TernaryEngine, the frozen + optimize_for_inference fp32 TorchScript network, and that
// network in int8 on oneDNN (torch_nets.h). Also one row per sub-net of resident weight bytes, fp32
// network vs TernaryEngine.
//
// Before registering anything it runs every contestant once on real test images and logs (stderr)
// its top-1 agreement with the fp32 network, so a broken baseline cannot pass for a fast one.
#ifndef TERNSERVE_BENCH_E2E_SUITE_H_
#define TERNSERVE_BENCH_E2E_SUITE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "bench/bench_flags.h"
#include "bench/result_table.h"

namespace ternserve::bench {

// Owns the bundle, images and runners the registered benchmarks use: keep it alive until the
// benchmarks have run.
class E2eSuite;

// Opens options.bundle, builds the contestants and registers the suite's benchmarks and rows (call
// once, from main, before the benchmarks run).
// INVALID_ARGUMENT if the bundle cannot be opened (the message names it and the fault).
absl::StatusOr<std::shared_ptr<E2eSuite>> RegisterE2eSuite(const BenchOptions& options,
                                                           ResultTable* table);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_E2E_SUITE_H_
