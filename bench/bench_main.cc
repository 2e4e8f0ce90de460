// ternserve-bench: the side-by-side kernel and engine benchmark. See bench/README.md and --help.
//
// Flow: parse our flags (exit 2 on a usage error), register the selected suites' benchmarks and
// result rows, then let Google Benchmark run them with our defaults (3 repetitions of >= 0.1 s,
// medians) unless the user's --benchmark_* flags say otherwise.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_flags.h"
#include "bench/e2e_suite.h"
#include "bench/layer_suite.h"
#include "bench/result_table.h"
#if TERNSERVE_HAVE_CUDA
#include "bench/cuda_e2e_suite.h"
#endif

namespace ternserve::bench {
namespace {

int Main(int argc, char** argv) {
  BenchOptions options;
  std::string error;
  switch (ParseBenchFlags(argc, argv, &options, &error)) {
    case ParseOutcome::kHelp:
      std::fputs(BenchUsage().c_str(), stdout);
      return 0;
    case ParseOutcome::kUsageError:
      std::fprintf(stderr, "ternserve-bench: %s\nTry --help.\n", error.c_str());
      return kExitUsage;
    case ParseOutcome::kRun:
      break;
  }

  // Our defaults first, so that the user's own --benchmark_* flags (later) win.
  std::vector<std::string> args = {argv[0]};
  if (options.quick) {
    args.insert(args.end(), {"--benchmark_min_time=0.01", "--benchmark_repetitions=1"});
  } else {
    args.insert(args.end(), {"--benchmark_min_time=0.1", "--benchmark_repetitions=3"});
  }
  args.push_back("--benchmark_report_aggregates_only=true");
  args.insert(args.end(), options.benchmark_args.begin(), options.benchmark_args.end());
  std::vector<char*> benchmark_argv;
  for (std::string& a : args) benchmark_argv.push_back(a.data());
  int benchmark_argc = static_cast<int>(benchmark_argv.size());
  benchmark::Initialize(&benchmark_argc, benchmark_argv.data());
  if (benchmark::ReportUnrecognizedArguments(benchmark_argc, benchmark_argv.data())) {
    return kExitUsage;
  }

  ResultTable table;
#if TERNSERVE_HAVE_CUDA
  std::shared_ptr<CudaE2eSuite> cuda;
  if (options.engine == "cuda") {
    options.run_layers = options.run_e2e = false;  // the CPU suites; --engine=cuda runs its own
    absl::StatusOr<std::shared_ptr<CudaE2eSuite>> suite = RegisterCudaE2eSuite(options, &table);
    if (!suite.ok()) {
      std::fprintf(stderr, "ternserve-bench: %s\n", std::string(suite.status().message()).c_str());
      return suite.status().code() == absl::StatusCode::kInternal ? kExitCheckFailed : kExitUsage;
    }
    cuda = *suite;
  }
#endif
  if (options.run_layers) {
    if (absl::Status s = RegisterLayerSuite(options, &table); !s.ok()) {
      std::fprintf(stderr, "ternserve-bench: %s\n", std::string(s.message()).c_str());
      return s.code() == absl::StatusCode::kInternal ? kExitCheckFailed : kExitUsage;
    }
  }
  std::shared_ptr<E2eSuite> e2e;
  if (options.run_e2e) {
    absl::StatusOr<std::shared_ptr<E2eSuite>> suite = RegisterE2eSuite(options, &table);
    if (!suite.ok()) {
      std::fprintf(stderr, "ternserve-bench: %s\n", std::string(suite.status().message()).c_str());
      return suite.status().code() == absl::StatusCode::kInternal ? kExitCheckFailed : kExitUsage;
    }
    e2e = *suite;
  }

  TableReporter reporter(&table, options.json);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace
}  // namespace ternserve::bench

int main(int argc, char** argv) { return ternserve::bench::Main(argc, argv); }
