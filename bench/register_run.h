// RegisterSubnetRun: one Google Benchmark of a SubnetRunner at one batch, the timing loop that
// every end-to-end suite (CPU and CUDA) registers, so their rows are measured the same way.
//
// Registration only; the benchmark runs later, on the thread that calls RunSpecifiedBenchmarks.
// `runner` and the memory behind `images` must outlive that run.
#ifndef TERNSERVE_BENCH_REGISTER_RUN_H_
#define TERNSERVE_BENCH_REGISTER_RUN_H_

#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "bench/subnet_runner.h"

namespace ternserve::bench {

// Times runner->Run(images, batch) per iteration in real time (the work runs on the GPU or an
// engine's thread pool, not only on the calling thread), with an img/s counter; a failed Run ends
// the benchmark with its status as the error. `before` (if set) runs once before the timing loop,
// e.g. to set LibTorch's thread count.
inline void RegisterSubnetRun(const std::string& name, SubnetRunner* runner,
                              absl::Span<const float> images, int batch,
                              std::function<void()> before = nullptr) {
  auto body = [=](benchmark::State& state) {
    if (before) before();
    for (auto _ : state) {
      absl::StatusOr<std::vector<float>> logits = runner->Run(images, batch);
      if (!logits.ok()) {
        state.SkipWithError(logits.status().ToString().c_str());
        break;
      }
      benchmark::DoNotOptimize(logits->data());
    }
    state.counters["img/s"] =
        benchmark::Counter(batch, benchmark::Counter::kIsIterationInvariantRate);
  };
  benchmark::RegisterBenchmark(name.c_str(), std::move(body))
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_REGISTER_RUN_H_
