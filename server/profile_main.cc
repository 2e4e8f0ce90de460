// ternserve-profile: measures a bundle's latency table (p50/p99 per sub-net x batch) on this
// machine with the serving engine and worker layout, and writes profile.json for `ternserve
// --profile` and `ternserve-sim --profile`.
//
// Exit codes: 0 done, 1 the bundle, an engine or the output cannot be used, 2 bad flags.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "models/arch.h"
#include "models/bundle.h"
#include "scheduler/latency_profile.h"
#include "server/profiler.h"
#include "server/server_options.h"
#include "server/torch_engine_factory.h"
#include "util/flag_check.h"

ABSL_FLAG(std::string, bundle, "", "Model bundle (*.tsn) to profile.");
ABSL_FLAG(std::string, out, "", "Where to write the latency profile JSON (atomically).");
ABSL_FLAG(std::string, engine, "ternary",
          "Serving engine: ternary, torch or cuda (cuda only in a CUDA build: make build-cuda).");
ABSL_FLAG(std::string, isa, "",
          "ternary: kernel variant (scalar, avx2, avx512vnni). Empty = the fastest this CPU has.");
ABSL_FLAG(
    int, workers, 1,
    "Workers, as the server will run them: one engine each, all busy during the measurement.");
ABSL_FLAG(int, threads, 0, "Threads per engine. 0 = max(1, hardware threads / workers).");
ABSL_FLAG(double, budget_s, 60,
          "Wall-time budget in seconds for all (sub-net, batch) cells; each cell still runs at "
          "least --min_iterations times.");
ABSL_FLAG(int, min_iterations, 5, "Fewest timed runs per (sub-net, batch) cell.");

namespace ternserve {
namespace {

constexpr char kProgram[] = "ternserve-profile";
constexpr char kThisFile[] = "server/profile_main.cc";
constexpr int kExitInput = 1;
constexpr int kExitUsage = 2;

int UsageError(const std::string& message) {
  std::fprintf(stderr, "%s: %s\nTry --help.\n", kProgram, message.c_str());
  return kExitUsage;
}

int InputError(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kProgram, message.c_str());
  return kExitInput;
}

// Every flag value problem, each naming its flag.
std::vector<std::string> FlagErrors() {
  std::vector<std::string> errors;
  if (absl::GetFlag(FLAGS_bundle).empty()) errors.push_back("--bundle is required");
  if (absl::GetFlag(FLAGS_out).empty()) errors.push_back("--out is required");
  // The flags it shares with ternserve are parsed and checked as ternserve's are.
  ServerOptions serving;
  ParseEngineFlags(absl::GetFlag(FLAGS_engine), absl::GetFlag(FLAGS_isa),
                   TernaryAndTorchEngineFactory(), &serving, &errors);
  serving.workers = absl::GetFlag(FLAGS_workers);
  serving.threads = absl::GetFlag(FLAGS_threads);
  const std::vector<std::string> invalid = ValidateServerOptions(serving);
  errors.insert(errors.end(), invalid.begin(), invalid.end());
  const double budget_s = absl::GetFlag(FLAGS_budget_s);
  if (!(budget_s > 0) || budget_s > 86400) {
    errors.push_back(absl::StrCat("--budget_s=", budget_s, " is not in (0, 86400]"));
  }
  const int min_iterations = absl::GetFlag(FLAGS_min_iterations);
  if (min_iterations < 1 || min_iterations > 1000000) {
    errors.push_back(absl::StrCat("--min_iterations=", min_iterations, " is not in [1, 1000000]"));
  }
  return errors;
}

// W engines of the chosen kind (the same factory as ternserve-torch); `isa` gets the ternary
// kernel variant in use ("" for torch).
absl::StatusOr<std::vector<std::unique_ptr<Engine>>> CreateEngines(const Bundle& bundle,
                                                                   int workers, int threads,
                                                                   std::string* isa) {
  EngineSpec spec;
  // Main has already refused a name ParseEngineFlags does not accept.
  spec.kind = ParseEngineKind(absl::GetFlag(FLAGS_engine)).value_or(EngineKind::kTernary);
  spec.threads = threads;
  spec.isa = absl::GetFlag(FLAGS_isa);
  std::vector<std::unique_ptr<Engine>> engines;
  for (int w = 0; w < workers; ++w) {
    absl::StatusOr<std::unique_ptr<Engine>> engine =
        TernaryAndTorchEngineFactory().Create(bundle, spec);
    if (!engine.ok()) return engine.status();
    *isa = (*engine)->isa();
    engines.push_back(*std::move(engine));
  }
  return engines;
}

// One run of every sub-net on every engine (first-touch allocation, LibTorch's lazy set-up), so
// the first measured cell does not pay for it.
absl::Status WarmUp(const Bundle& bundle, const std::vector<std::unique_ptr<Engine>>& engines) {
  const std::vector<float> image(kImagePixels, 0.5f);
  for (const std::unique_ptr<Engine>& engine : engines) {
    for (const SubnetMeta& subnet : bundle.metadata().subnets) {
      if (absl::StatusOr<LogitsView> logits = engine->Run(subnet.id, image, 1); !logits.ok()) {
        return absl::Status(logits.status().code(), absl::StrCat("warm-up of sub-net ", subnet.id,
                                                                 ": ", logits.status().message()));
      }
    }
  }
  return absl::OkStatus();
}

void PrintSummary(const LatencyProfile& profile) {
  std::printf("%s (%s), engine %s%s%s, %d worker(s) x %d thread(s), overhead p99 %.1f us\n",
              profile.bundle_name.c_str(), profile.bundle_checksum.c_str(), profile.engine.c_str(),
              profile.isa.empty() ? "" : "/", profile.isa.c_str(), profile.workers, profile.threads,
              profile.overhead_us);
  std::printf("%-28s %8s %11s %11s %11s %11s\n", "sub-net", "accuracy", "p99@1 ms", "p99@8 ms",
              "p99@32 ms", "p99@64 ms");
  for (const SubnetLatency& subnet : profile.subnets) {
    std::printf("%-28s %7.2f%% %11.3f %11.3f %11.3f %11.3f\n", subnet.name.c_str(),
                100 * subnet.accuracy, P99Us(subnet, 1) / 1000, P99Us(subnet, 8) / 1000,
                P99Us(subnet, 32) / 1000, P99Us(subnet, 64) / 1000);
  }
}

int Main(int argc, char** argv) {
  SetUsage(
      kThisFile,
      "Measures the p50/p99 latency of every sub-net of a bundle at batch sizes 1, 2, 4, ..., 64 "
      "with the serving engine, all workers busy at once, and writes the latency profile that "
      "ternserve --profile and ternserve-sim read.\n\nUsage: ternserve-profile --bundle=B.tsn "
      "--out=profile.json [--engine=ternary|torch] [--isa=NAME] [--workers=W] [--threads=T] "
      "[--budget_s=S]");
  if (PrintHelpIfAsked(argc, argv, kThisFile)) return 0;
  if (!PrevalidateFlags(argc, argv, kProgram, kThisFile)) {
    std::fprintf(stderr, "Try --help.\n");
    return kExitUsage;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return UsageError(absl::StrCat("unexpected argument '", positional[1], "'"));
  }
  if (const std::vector<std::string> errors = FlagErrors(); !errors.empty()) {
    for (const std::string& error : errors)
      std::fprintf(stderr, "%s: %s\n", kProgram, error.c_str());
    std::fprintf(stderr, "Try --help.\n");
    return kExitUsage;
  }

  const int workers = absl::GetFlag(FLAGS_workers);
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads == 0) {
    threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / workers);
  }
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(absl::GetFlag(FLAGS_bundle));
  if (!bundle.ok()) return InputError(std::string(bundle.status().message()));
  std::string isa;
  absl::StatusOr<std::vector<std::unique_ptr<Engine>>> engines =
      CreateEngines(**bundle, workers, threads, &isa);
  if (!engines.ok()) {
    return InputError(absl::StrCat("cannot create the ", absl::GetFlag(FLAGS_engine),
                                   " engine: ", engines.status().message()));
  }
  if (absl::Status warm = WarmUp(**bundle, *engines); !warm.ok()) {
    return InputError(std::string(warm.message()));
  }

  std::vector<Engine*> borrowed;
  for (const std::unique_ptr<Engine>& engine : *engines) borrowed.push_back(engine.get());
  ProfilerOptions options;
  options.budget = absl::Seconds(absl::GetFlag(FLAGS_budget_s));
  options.min_iterations = absl::GetFlag(FLAGS_min_iterations);
  options.progress = [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  };
  absl::StatusOr<LatencyProfile> profile =
      MeasureLatencyProfile(**bundle, borrowed, isa, threads, options);
  if (!profile.ok()) return InputError(std::string(profile.status().message()));
  const std::string out = absl::GetFlag(FLAGS_out);
  if (absl::Status saved = SaveLatencyProfile(*profile, out); !saved.ok()) {
    return InputError(absl::StrCat("--out: ", saved.message()));
  }
  std::fprintf(stderr, "%s: wrote %s\n", kProgram, out.c_str());
  PrintSummary(*profile);
  return 0;
}

}  // namespace
}  // namespace ternserve

int main(int argc, char** argv) { return ternserve::Main(argc, argv); }
