#include "bench/bench_flags.h"

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "bench/agreement.h"

ABSL_FLAG(std::string, bundle, "models/ternserve.tsn",
          "Model bundle whose largest, middle and smallest sub-nets the e2e suite runs.");
ABSL_FLAG(std::string, suite, "all", "Which suite to run: layers, e2e or all.");
ABSL_FLAG(bool, json, false,
          "Print one JSON object per result row on stdout, and nothing else there.");
ABSL_FLAG(bool, quick, false, "Smoke run: 1 repetition of ~10 ms per benchmark.");
ABSL_FLAG(std::string, isa, "",
          "Ternary kernel variant for the layers suite: scalar, avx2 or avx512vnni (default: the "
          "fastest this CPU supports).");

ABSL_FLAG(std::string, engine, "ternary",
          "ternary: the CPU suites (--suite); cuda: the CUDA e2e suite, CudaEngine next to the CPU "
          "TernaryEngine (only in a CUDA build: make build-cuda).");

ABSL_FLAG(int, e2e_threads, 2,
          "Threads of every contestant in the e2e suite (the issue's targets are for 2; 1 is "
          "useful to compare with anchor-bench on a loaded machine).");

ABSL_FLAG(std::string, testonly_perturb, "",
          "Testing only: rotate this e2e contestant's logits so that the agreement check fails.");

namespace ternserve::bench {
namespace {

constexpr absl::string_view kOurFlags[] = {"bundle", "suite",  "json",        "quick",
                                           "isa",    "engine", "e2e_threads", "testonly_perturb"};

bool IsOurFlag(absl::string_view name) {
  for (absl::string_view f : kOurFlags) {
    if (f == name) return true;
  }
  return false;
}

}  // namespace

std::string BenchUsage() {
  return absl::StrFormat(
      R"(ternserve-bench: ternary kernels and TernaryEngine side by side with LibTorch fp32 and
oneDNN int8, in one process. See bench/README.md.

Usage: ternserve-bench [--suite=layers|e2e|all] [--bundle=PATH] [--json] [--quick] [--isa=NAME]
                       [--engine=ternary|cuda] [--benchmark_...]

  --suite=all         layers: per-layer GMAC/s on the SuperNet's conv shapes (the layer cases of
                      models/kernels/conv_cases.h), batch 1/8/32, threads 1/2; e2e: ms per batch
                      of 3 sub-nets, batch 1/32, 2 threads, plus resident weight bytes
  --bundle=models/ternserve.tsn
                      the bundle the e2e suite runs
  --json              one JSON object per result row on stdout; nothing else there
  --quick             smoke run: 1 repetition, ~10 ms per benchmark (numbers are not measurements)
  --isa=NAME          ternary kernel variant for the layers suite: scalar, avx2, avx512vnni
                      (default: the fastest this CPU supports)
  --e2e_threads=2     threads of every e2e contestant (the issue's targets are for 2)
  --engine=ternary    ternary: the suites above; cuda: instead, every sub-net at batch 1/8/32 on
                      CudaEngine next to the CPU TernaryEngine, after a top-1 agreement check
                      between the two (only in a CUDA build: make build-cuda; docs/cuda.md).
                      LibTorch fp16 is not compared: Debian's LibTorch has no CUDA; cuDNN fp16 and
                      int8 are not compared yet (null columns, with a note)
  --benchmark_...     any Google Benchmark flag, e.g. --benchmark_filter=s1.b0 (regex over names
                      like layers/s1.b0.conv1/b8/t2/ternary or e2e/largest/b32/t2/torch_int8),
                      --benchmark_repetitions=5 (default 3), --benchmark_min_time=0.5 (default 0.1)

What a row reports is computed in the same run: x_fp32 and x_int8 are ternary's speed over
torch_fp32's and torch_int8's in that row; peak_pct is ternary_gmacs over vnni_peak_gmacs, the
vpdpbusd throughput this process measured at start-up for the row's thread count.

Checks before anything is timed:
  - layers: the ternary kernel's output equals the scalar reference's, byte for byte, on every
    (layer, batch, threads) it times;
  - e2e: on the first %d Fashion-MNIST test images, each contestant's top-1 class agrees with
    torch_fp32's on at least %.0f%% of them (rows carry ternary_top1_agree, torch_int8_top1_agree).
    Without the data set the input is uniform noise, rows say "input":"synthetic", and the
    agreement is reported but not checked.

Exit status: 0 ok, 1 a check failed, 2 usage error (bad flag, bad bundle, ISA this CPU lacks).
)",
      kAgreementImages, 100 * kMinTop1Agreement);
}

ParseOutcome ParseBenchFlags(int argc, char** argv, BenchOptions* options, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "--helpfull" || arg == "-help") {
      return ParseOutcome::kHelp;
    }
    if (absl::StartsWith(arg, "--benchmark_")) {
      options->benchmark_args.emplace_back(arg);
      continue;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      *error = absl::StrCat("unexpected argument '", arg, "' (flags are --name=value)");
      return ParseOutcome::kUsageError;
    }
    const absl::string_view body = arg.substr(2);
    const size_t eq = body.find('=');
    std::string name(body.substr(0, eq));
    std::string value = eq == absl::string_view::npos ? "" : std::string(body.substr(eq + 1));
    if (eq == absl::string_view::npos) {
      // Booleans may be given bare (--json) or negated (--nojson); the others need =value.
      if (name == "json" || name == "quick") {
        value = "true";
      } else if (name == "nojson" || name == "noquick") {
        name = name.substr(2);
        value = "false";
      } else if (IsOurFlag(name)) {
        *error = absl::StrCat("--", name, " needs a value (--", name, "=...)");
        return ParseOutcome::kUsageError;
      }
    }
    if (!IsOurFlag(name)) {
      *error = absl::StrCat("unknown flag --", name);
      return ParseOutcome::kUsageError;
    }
    std::string parse_error;
    if (!absl::FindCommandLineFlag(name)->ParseFrom(value, &parse_error)) {
      *error = absl::StrCat("--", name, "=", value, ": ", parse_error);
      return ParseOutcome::kUsageError;
    }
  }
  options->bundle = absl::GetFlag(FLAGS_bundle);
  options->json = absl::GetFlag(FLAGS_json);
  options->quick = absl::GetFlag(FLAGS_quick);
  options->isa = absl::GetFlag(FLAGS_isa);
  options->e2e_threads = absl::GetFlag(FLAGS_e2e_threads);
  options->engine = absl::GetFlag(FLAGS_engine);
  if (options->engine != "ternary" && options->engine != "cuda") {
    *error = absl::StrCat("--engine=", options->engine, ": must be ternary or cuda");
    return ParseOutcome::kUsageError;
  }
#if !TERNSERVE_HAVE_CUDA
  if (options->engine == "cuda") {
    *error =
        "--engine=cuda: this ternserve-bench was built without CUDA (rebuild with make "
        "build-cuda / -DTERNSERVE_CUDA=ON, then cmake --build build-cuda --target ternserve-bench)";
    return ParseOutcome::kUsageError;
  }
#endif
  options->testonly_perturb = absl::GetFlag(FLAGS_testonly_perturb);
  if (options->e2e_threads < 1) {
    *error = absl::StrCat("--e2e_threads=", options->e2e_threads, ": must be at least 1");
    return ParseOutcome::kUsageError;
  }
  const std::string suite = absl::GetFlag(FLAGS_suite);
  if (suite != "layers" && suite != "e2e" && suite != "all") {
    *error = absl::StrCat("--suite=", suite, ": must be layers, e2e or all");
    return ParseOutcome::kUsageError;
  }
  options->run_layers = suite != "e2e";
  options->run_e2e = suite != "layers";
  if (options->bundle.empty() && options->run_e2e) {
    *error = "--bundle must name a bundle file for the e2e suite";
    return ParseOutcome::kUsageError;
  }
  return ParseOutcome::kRun;
}

}  // namespace ternserve::bench
