// ternserve-bench's command line: our flags (absl flags) and Google Benchmark's (--benchmark_*),
// which are passed through to benchmark::Initialize.
//
// Why not absl::ParseCommandLine: it exits 1 on an unknown flag and cannot leave Google Benchmark's
// flags alone; usage errors must exit 2. Not thread-safe (call once, from main).
#ifndef TERNSERVE_BENCH_BENCH_FLAGS_H_
#define TERNSERVE_BENCH_BENCH_FLAGS_H_

#include <string>
#include <vector>

namespace ternserve::bench {

inline constexpr int kExitUsage = 2;
// A check of what is measured failed: a kernel differs from the scalar reference, or an e2e
// contestant disagrees with fp32 beyond the bound (see --help).
inline constexpr int kExitCheckFailed = 1;

struct BenchOptions {
  std::string bundle = "models/ternserve.tsn";  // the e2e suite's sub-nets
  bool run_layers = true;                       // --suite=layers|e2e|all
  bool run_e2e = true;
  bool json = false;   // one JSON object per line on stdout instead of Google Benchmark's output
  bool quick = false;  // short timings (a smoke run, not a measurement)
  std::string isa;     // ternary kernel variant; empty: the fastest this CPU supports
  // --engine=ternary (the CPU suites) or cuda (the CUDA e2e suite, bench/cuda_e2e_suite.h; only in
  // a CUDA build, elsewhere a usage error saying how to build it).
  std::string engine = "ternary";
  int e2e_threads = 2;  // threads of every e2e contestant (the targets are for 2)
  // Hidden (not in --help): the e2e contestant ("ternary", "torch_int8") whose logits are rotated
  // by one class, so that the agreement check must fail; for the smoke test of that check.
  std::string testonly_perturb;
  // Google Benchmark flags given by the user; they override our defaults (repetitions, min time).
  std::vector<std::string> benchmark_args;
};

enum class ParseOutcome { kRun, kHelp, kUsageError };

// Fills `options` from argv. On kUsageError, `error` says what is wrong.
ParseOutcome ParseBenchFlags(int argc, char** argv, BenchOptions* options, std::string* error);

// The --help text.
std::string BenchUsage();

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_BENCH_FLAGS_H_
