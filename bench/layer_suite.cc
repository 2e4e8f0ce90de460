#include "bench/layer_suite.h"

#include <benchmark/benchmark.h>

#include <functional>
#include <string>

#include "absl/strings/str_cat.h"
#include "bench/layer_shapes.h"
#include "bench/ternary_conv_runner.h"
#include "bench/torch_layers.h"
#include "bench/worker_pair.h"
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

void SetGmacs(benchmark::State& state, const ConvLayerShape& shape, int batch) {
  state.counters[kGmacsCounter] = benchmark::Counter(static_cast<double>(shape.Macs(batch)) * 1e-9,
                                                     benchmark::Counter::kIsIterationInvariantRate);
}

// Real time: the 2-thread runs do work on threads the CPU-time clock of this one does not see.
void Register(const std::string& name, std::function<void(benchmark::State&)> body) {
  benchmark::RegisterBenchmark(name.c_str(), std::move(body))
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

absl::Status RegisterLayerSuite(const BenchOptions& options, ResultTable* table) {
  const kernels::TernaryConvKernel* kernel = &kernels::BestTernaryConvKernel();
  if (!options.isa.empty()) {
    const kernels::TernaryConvKernelLookup lookup =
        kernels::LookUpTernaryConvKernel(options.isa.c_str(), kernels::DetectCpuFeatures());
    if (lookup.kernel == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("--isa: ", lookup.error));
    }
    if (!lookup.ok()) return absl::FailedPreconditionError(absl::StrCat("--isa: ", lookup.error));
    kernel = lookup.kernel;
  }
  const absl::Status int8 = UseOnednnQuantizedEngine();

  for (const ConvLayerShape& shape : DistinctConvShapes(ArchConfig{})) {
    for (int batch : kBatches) {
      for (int threads : kThreads) {
        const int row = table->AddRow({{"layer", shape.name},
                                       {"shape", shape.Describe()},
                                       {"batch", batch},
                                       {"threads", threads},
                                       {"isa", kernel->name}},
                                      {"ternary_gmacs", "torch_fp32_gmacs", "torch_int8_gmacs"});
        const std::string prefix = absl::StrCat("layers/", shape.name, "/b", batch, "/t", threads);

        std::string name = prefix + "/ternary";
        table->Bind(name, row, "ternary_gmacs", Metric::kGmacs);
        Register(name, [=](benchmark::State& state) {
          TernaryConvLayer layer(shape, batch, *kernel, /*seed=*/1);
          WorkerPair* pair = threads == 2 ? SharedWorkerPair() : nullptr;
          for (auto _ : state) layer.Run(pair);
          SetGmacs(state, shape, batch);
        });

        for (Fp32Layout layout : AllFp32Layouts()) {
          name = absl::StrCat(prefix, "/torch_fp32_", Fp32LayoutName(layout));
          table->Bind(name, row, "torch_fp32_gmacs", Metric::kGmacs, "torch_fp32_layout",
                      Fp32LayoutName(layout));
          Register(name, [=](benchmark::State& state) {
            SetTorchThreads(threads);
            auto layer = TorchConvLayer::CreateFp32(shape, batch, layout);
            if (!layer.ok()) {
              state.SkipWithError(layer.status().ToString().c_str());
              return;
            }
            for (auto _ : state) (*layer)->Run();
            SetGmacs(state, shape, batch);
          });
        }

        if (!int8.ok()) {
          table->AddNote(row, absl::StrCat("torch_int8: ", int8.message()));
          continue;
        }
        name = prefix + "/torch_int8";
        table->Bind(name, row, "torch_int8_gmacs", Metric::kGmacs);
        Register(name, [=](benchmark::State& state) {
          SetTorchThreads(threads);
          auto layer = TorchConvLayer::CreateInt8(shape, batch);
          if (!layer.ok()) {
            state.SkipWithError(layer.status().ToString().c_str());
            return;
          }
          for (auto _ : state) (*layer)->Run();
          SetGmacs(state, shape, batch);
        });
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace ternserve::bench
