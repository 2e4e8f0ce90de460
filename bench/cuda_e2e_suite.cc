#include "bench/cuda_e2e_suite.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/agreement.h"
#include "bench/cudnn_baseline.h"
#include "bench/gpu_timing.h"
#include "bench/register_run.h"
#include "bench/subnet_runner.h"
#include "models/bundle.h"
#include "models/cuda_engine.h"
#include "models/ternary_engine.h"

namespace ternserve::bench {

class CudaE2eSuite {
 public:
  std::unique_ptr<Bundle> bundle;
  std::vector<float> images;  // kAgreementImages test images (the first 32 time the runs)
  bool synthetic = false;
  std::shared_ptr<CudaEngine> cuda;
  std::shared_ptr<TernaryEngine> cpu;
  std::vector<std::unique_ptr<SubnetRunner>> runners;  // what the benchmarks call
};

namespace {

constexpr int kBatches[] = {1, 8, 32};
constexpr int kMaxBatch = 32;
constexpr char kTorchFp16Note[] =
    "torch_fp16: not measured: Debian's LibTorch is built without CUDA (no GPU LibTorch here)";
constexpr char kEventTimeNote[] =
    "cudnn_*_ms and launch_chain*_ms are CUDA-event GPU times (median of runs), cuda_ms the wall "
    "time of Run (its host copies and sync included): the ratios favour the baselines slightly";
constexpr std::pair<CudnnPrecision, const char*> kCudnnPrecisions[] = {
    {CudnnPrecision::kFp16, "cudnn_fp16"}, {CudnnPrecision::kInt8, "cudnn_int8"}};

// One sub-net of an engine shared by all its runners.
template <typename EngineT>
class EngineRunner final : public SubnetRunner {
 public:
  EngineRunner(std::shared_ptr<EngineT> engine, int subnet_id, size_t weight_bytes)
      : engine_(std::move(engine)), subnet_id_(subnet_id), weight_bytes_(weight_bytes) {}
  absl::StatusOr<std::vector<float>> Run(absl::Span<const float> images, int batch) override {
    absl::StatusOr<LogitsView> logits = engine_->Run(subnet_id_, images, batch);
    if (!logits.ok()) return logits.status();
    return logits->ToVector();
  }
  size_t weight_bytes() const override { return weight_bytes_; }

 private:
  const std::shared_ptr<EngineT> engine_;
  const int subnet_id_;
  const size_t weight_bytes_;
};

// The cuDNN network's columns of one row (cudnn_baseline.h): `name`_ms, `name`_launch and the
// ratio x_`name` = its ms / cuda_ms, or a note saying why they stay null.
void AddCudnnColumns(CudnnBaseline* cudnn, const std::string& missing, const ArchConfig& arch,
                     const SubnetMeta& subnet, int batch, ResultTable* table, int row) {
  for (const auto& [precision, name] : kCudnnPrecisions) {
    table->AddRatio(row, absl::StrCat("x_", name), absl::StrCat(name, "_ms"), "cuda_ms");
    if (cudnn == nullptr) continue;
    absl::StatusOr<CudnnTiming> timing = cudnn->Time(arch, subnet.config, batch, precision);
    if (!timing.ok()) {
      table->AddNote(row, absl::StrCat(name, ": not measured: ", timing.status().message()));
      std::fprintf(stderr, "ternserve-bench: %s on %s at batch %d: %s\n", name, subnet.name.c_str(),
                   batch, timing.status().ToString().c_str());
      continue;
    }
    table->SetField(row, absl::StrCat(name, "_ms"), Round(timing->ms, 4));
    table->SetField(row, absl::StrCat(name, "_launch"), timing->launch);
    if (!timing->graph_failed.empty()) {
      table->AddNote(row, absl::StrCat(name, ": no CUDA graph: ", timing->graph_failed));
    }
  }
  if (cudnn == nullptr) {
    table->AddNote(row, absl::StrCat("cudnn_fp16, cudnn_int8: not measured: ", missing));
  }
}

// The bare launch chain of the sub-net's depth (gpu_timing.h), on its batch-1 row.
void AddLaunchChainColumns(const ArchConfig& arch, const SubnetMeta& subnet,
                           const CudnnBaselineOptions& timing, ResultTable* table, int row) {
  const int launches = CudaEngineKernelLaunches(arch, subnet.config);
  table->SetField(row, "kernel_launches", launches);
  table->SetField(row, "launch_chain_ms", nullptr);
  table->SetField(row, "launch_chain_graph_ms", nullptr);
  table->AddRatio(row, "x_launch_chain", "cuda_ms", "launch_chain_ms");
  table->AddRatio(row, "x_launch_chain_graph", "cuda_ms", "launch_chain_graph_ms");
  absl::StatusOr<LaunchChainMs> chain = TimeLaunchChain(launches, timing.warmup, timing.runs);
  if (!chain.ok()) {
    table->AddNote(row, absl::StrCat("launch_chain: not measured: ", chain.status().message()));
    return;
  }
  table->SetField(row, "launch_chain_ms", Round(chain->plain_ms, 4));
  table->SetField(row, "launch_chain_graph_ms", Round(chain->graph_ms, 4));
}

}  // namespace

absl::StatusOr<std::shared_ptr<CudaE2eSuite>> RegisterCudaE2eSuite(const BenchOptions& options,
                                                                   ResultTable* table) {
  auto suite = std::make_shared<CudaE2eSuite>();
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(options.bundle);
  if (!bundle.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--bundle: ", bundle.status().message()));
  }
  suite->bundle = std::move(*bundle);
  const Bundle& b = *suite->bundle;
  absl::StatusOr<std::unique_ptr<CudaEngine>> cuda = CudaEngine::Create(b);
  if (!cuda.ok()) return cuda.status();
  suite->cuda = std::move(*cuda);
  TernaryEngineOptions cpu_options;
  cpu_options.threads = options.e2e_threads;
  absl::StatusOr<std::unique_ptr<TernaryEngine>> cpu = TernaryEngine::Create(b, cpu_options);
  if (!cpu.ok()) return absl::InvalidArgumentError(cpu.status().message());
  suite->cpu = std::move(*cpu);
  suite->images = LoadAgreementImages(kAgreementImages, &suite->synthetic);
  const absl::Span<const float> all = suite->images;
  const absl::Span<const float> timing = all.subspan(0, kMaxBatch * kImagePixels);
  const int classes = b.metadata().arch.num_classes;
  std::fprintf(stderr, "ternserve-bench: CudaEngine on %s (%s), CPU TernaryEngine on %s\n",
               suite->cuda->device_name().c_str(), suite->cuda->isa().c_str(),
               suite->cpu->isa().c_str());
  // The GPU baselines are timed here, at registration, while nothing else runs on the GPU.
  CudnnBaselineOptions baseline_options;
  baseline_options.input_mean = b.metadata().input_mean;
  baseline_options.input_std = b.metadata().input_std;
  if (options.quick) {
    baseline_options.warmup = 2;
    baseline_options.runs = 5;
  }
  absl::StatusOr<std::unique_ptr<CudnnBaseline>> cudnn = CudnnBaseline::Create(baseline_options);
  const std::string cudnn_missing = cudnn.ok() ? "" : std::string(cudnn.status().message());
  std::fprintf(stderr, "ternserve-bench: cuDNN baselines: %s\n",
               cudnn.ok() ? (*cudnn)->version().c_str() : cudnn_missing.c_str());

  for (const SubnetMeta& subnet : b.metadata().subnets) {
    std::unique_ptr<SubnetRunner> gpu_runner = std::make_unique<EngineRunner<CudaEngine>>(
        suite->cuda, subnet.id, suite->cuda->device_weight_bytes());
    if (options.testonly_perturb == "cuda") {
      gpu_runner = RotateLogits(std::move(gpu_runner), classes);
    }
    std::unique_ptr<SubnetRunner> cpu_runner = std::make_unique<EngineRunner<TernaryEngine>>(
        suite->cpu, subnet.id, suite->cpu->resident_weight_bytes(subnet.id));
    absl::StatusOr<std::vector<int>> gpu_top =
        Top1OfImages(*gpu_runner, all, kAgreementImages, kMaxBatch, classes);
    if (!gpu_top.ok()) return gpu_top.status();
    absl::StatusOr<std::vector<int>> cpu_top =
        Top1OfImages(*cpu_runner, all, kAgreementImages, kMaxBatch, classes);
    if (!cpu_top.ok()) return cpu_top.status();
    const double agreement = Agreement(*gpu_top, *cpu_top);
    std::fprintf(stderr,
                 "ternserve-bench: cuda on %s: top-1 agrees with the CPU TernaryEngine on %.2f%% "
                 "of %d %s images\n",
                 subnet.name.c_str(), 100 * agreement, kAgreementImages,
                 suite->synthetic ? "synthetic" : "test");
    if (!suite->synthetic && agreement < kMinTop1Agreement) {
      return absl::InternalError(absl::StrFormat(
          "agreement check failed: cuda on %s agrees with ternary on %.2f%% < %.0f%%", subnet.name,
          100 * agreement, 100 * kMinTop1Agreement));
    }
    for (int batch : kBatches) {
      const int row = table->AddRow(
          {{"subnet", subnet.name},
           {"subnet_name", subnet.name},
           {"macs", subnet.macs},
           {"batch", batch},
           {"threads", options.e2e_threads},
           {"isa", suite->cuda->isa()},
           {"device", suite->cuda->device_name()},
           {"input", suite->synthetic ? "synthetic" : "fashion-mnist"}},
          {"cuda_ms", "ternary_ms", "torch_fp16_ms", "cudnn_fp16_ms", "cudnn_int8_ms"});
      table->AddRatio(row, "x_cpu", "ternary_ms", "cuda_ms");
      table->SetField(row, "cuda_top1_agree", Round(agreement, 4));
      table->SetField(row, "agree_images", kAgreementImages);
      table->AddNote(row, kTorchFp16Note);
      AddCudnnColumns(cudnn.ok() ? cudnn->get() : nullptr, cudnn_missing, b.metadata().arch, subnet,
                      batch, table, row);
      if (batch == 1)
        AddLaunchChainColumns(b.metadata().arch, subnet, baseline_options, table, row);
      table->AddNote(row, kEventTimeNote);
      const std::string prefix = absl::StrCat("e2e-cuda/", subnet.name, "/b", batch, "/");
      table->Bind(prefix + "cuda", row, "cuda_ms", Metric::kMilliseconds);
      RegisterSubnetRun(prefix + "cuda", gpu_runner.get(), timing.subspan(0, batch * kImagePixels),
                        batch);
      table->Bind(absl::StrCat(prefix, "t", options.e2e_threads, "/ternary"), row, "ternary_ms",
                  Metric::kMilliseconds);
      RegisterSubnetRun(absl::StrCat(prefix, "t", options.e2e_threads, "/ternary"),
                        cpu_runner.get(), timing.subspan(0, batch * kImagePixels), batch);
    }
    suite->runners.push_back(std::move(gpu_runner));
    suite->runners.push_back(std::move(cpu_runner));
  }
  table->AddRow({{"engine", "cuda"},
                 {"device", suite->cuda->device_name()},
                 {"cuda_device_weight_bytes", suite->cuda->device_weight_bytes()},
                 {"ternary_weight_bytes", suite->cpu->resident_weight_bytes()},
                 {"cudnn", cudnn.ok() ? (*cudnn)->version() : "none"}},
                {});
  return suite;
}

}  // namespace ternserve::bench
