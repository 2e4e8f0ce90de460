#include "bench/layer_suite.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <functional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/ternary_conv_runner.h"
#include "bench/torch_layers.h"
#include "bench/vnni_peak.h"
#include "bench/worker_pair.h"
#include "models/kernels/conv_cases.h"
#include "models/kernels/conv_kernels.h"

namespace ternserve::bench {
namespace {

constexpr int kBatches[] = {1, 8, 32};
constexpr int kThreads[] = {1, 2};

// The helper thread of every 2-thread ternary benchmark; created on first use, asleep when idle.
WorkerPair* SharedWorkerPair() {
  static WorkerPair* pair = new WorkerPair();
  return pair;
}

void SetGmacs(benchmark::State& state, const kernels::ConvCase& c, int batch) {
  state.counters[kGmacsCounter] = benchmark::Counter(static_cast<double>(c.Macs(batch)) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
}

// Real time: the 2-thread runs do work on threads the CPU-time clock of this one does not see.
void Register(const std::string& name, std::function<void(benchmark::State&)> body) {
  benchmark::RegisterBenchmark(name.c_str(), std::move(body))
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

// The kernel to time (--isa, or the fastest this CPU has).
absl::StatusOr<const kernels::TernaryConvKernel*> SelectKernel(const BenchOptions& options) {
  if (options.isa.empty()) return &kernels::BestTernaryConvKernel();
  const kernels::TernaryConvKernelLookup lookup =
      kernels::LookUpTernaryConvKernel(options.isa.c_str(), kernels::DetectCpuFeatures());
  if (lookup.kernel == nullptr) return absl::InvalidArgumentError("--isa: " + lookup.error);
  if (!lookup.ok()) return absl::FailedPreconditionError("--isa: " + lookup.error);
  return lookup.kernel;
}

}  // namespace

absl::Status RegisterLayerSuite(const BenchOptions& options, ResultTable* table) {
  absl::StatusOr<const kernels::TernaryConvKernel*> selected = SelectKernel(options);
  if (!selected.ok()) return selected.status();
  const kernels::TernaryConvKernel* kernel = *selected;
  const absl::Status int8 = UseOnednnQuantizedEngine();
  // The ceiling the "% of peak" column divides by, measured here, now, for each thread count.
  double peak_gmacs[3] = {0, MeasuredVnniPeakGmacs(1), MeasuredVnniPeakGmacs(2)};
  std::fprintf(stderr, "ternserve-bench: measured vpdpbusd peak %.1f GMAC/s (1 thread), %.1f (2)\n",
               peak_gmacs[1], peak_gmacs[2]);

  for (const kernels::ConvCase& c : kernels::ConvCases()) {
    if (!c.layer) continue;
    for (int batch : kBatches) {
      for (int threads : kThreads) {
        // What is timed is checked first: the same data, batch and row split as the benchmark.
        TernaryConvLayer check(c, batch, *kernel, /*seed=*/1);
        if (absl::Status s = check.CheckAgainstScalar(threads == 2 ? SharedWorkerPair() : nullptr);
            !s.ok()) {
          return s;
        }
        nlohmann::ordered_json fields = {{"layer", c.name},
                                         {"shape", c.Shape()},
                                         {"batch", batch},
                                         {"threads", threads},
                                         {"isa", kernel->name}};
        fields["vnni_peak_gmacs"] = peak_gmacs[threads] > 0
                                        ? nlohmann::ordered_json(Round(peak_gmacs[threads], 4))
                                        : nlohmann::ordered_json();
        const int row = table->AddRow(std::move(fields),
                                      {"ternary_gmacs", "torch_fp32_gmacs", "torch_int8_gmacs"});
        const std::string prefix = absl::StrCat("layers/", c.name, "/b", batch, "/t", threads);

        std::string name = prefix + "/ternary";
        table->Bind(name, row, "ternary_gmacs", Metric::kGmacs);
        Register(name, [=](benchmark::State& state) {
          TernaryConvLayer layer(c, batch, *kernel, /*seed=*/1);
          WorkerPair* pair = threads == 2 ? SharedWorkerPair() : nullptr;
          for (auto _ : state) layer.Run(pair);
          SetGmacs(state, c, batch);
        });

        for (Fp32Layout layout : AllFp32Layouts()) {
          name = absl::StrCat(prefix, "/torch_fp32_", Fp32LayoutName(layout));
          table->Bind(name, row, "torch_fp32_gmacs", Metric::kGmacs, "torch_fp32_layout",
                      Fp32LayoutName(layout));
          Register(name, [=](benchmark::State& state) {
            SetTorchThreads(threads);
            auto layer = TorchConvLayer::CreateFp32(c, batch, layout);
            if (!layer.ok()) {
              state.SkipWithError(layer.status().ToString().c_str());
              return;
            }
            for (auto _ : state) (*layer)->Run();
            SetGmacs(state, c, batch);
          });
        }

        table->AddRatio(row, "x_fp32", "ternary_gmacs", "torch_fp32_gmacs");
        table->AddRatio(row, "x_int8", "ternary_gmacs", "torch_int8_gmacs");
        table->AddRatio(row, "peak_pct", "ternary_gmacs", "vnni_peak_gmacs", 100.0);
        if (!int8.ok()) {
          table->AddNote(row, absl::StrCat("torch_int8: ", int8.message()));
          continue;
        }
        name = prefix + "/torch_int8";
        table->Bind(name, row, "torch_int8_gmacs", Metric::kGmacs);
        Register(name, [=](benchmark::State& state) {
          SetTorchThreads(threads);
          auto layer = TorchConvLayer::CreateInt8(c, batch);
          if (!layer.ok()) {
            state.SkipWithError(layer.status().ToString().c_str());
            return;
          }
          for (auto _ : state) (*layer)->Run();
          SetGmacs(state, c, batch);
        });
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ternserve::bench
