#include "bench/e2e_suite.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/subnet_runner.h"
#include "bench/ternary_e2e.h"
#include "bench/torch_layers.h"
#include "bench/torch_nets.h"
#include "models/bundle.h"
#include "models/fashion_mnist.h"

namespace ternserve::bench {

constexpr int kThreads = 2;
constexpr int kBatches[] = {1, 32};
constexpr int kMaxBatch = 32;
constexpr int kCalibrationImages = 256;

struct Contestant {
  const char* column;                    // "ternary_ms", ...
  const char* name;                      // benchmark name suffix
  std::unique_ptr<SubnetRunner> runner;  // null: not available (see note)
  std::string note;
};

struct SubnetCase {
  std::string role;  // "largest", "middle", "smallest"
  const SubnetMeta* subnet = nullptr;
  std::vector<Contestant> contestants;  // ternary, fp32, int8
};

class E2eSuite {
 public:
  std::unique_ptr<Bundle> bundle;
  std::vector<float> images;  // kMaxBatch timing images, then the calibration images
  std::vector<SubnetCase> cases;
};

namespace {

// Test-set images (real activations make the int8 calibration and the agreement check meaningful);
// uniform noise if Debian's dataset-fashion-mnist is not installed.
std::vector<float> LoadImages(int count) {
  std::vector<float> pixels;
  absl::StatusOr<ImageSet> test = LoadFashionMnist(kFashionMnistDir, FashionMnistSplit::kTest);
  if (test.ok() && test->count >= count) {
    for (int i = 0; i < count; ++i) test->AppendImageAsFloat(i, &pixels);
    return pixels;
  }
  std::fprintf(stderr, "ternserve-bench: %s; using random images\n",
               test.ok() ? "too few test images" : test.status().ToString().c_str());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  pixels.resize(static_cast<size_t>(count) * kImagePixels);
  for (float& p : pixels) p = unit(rng);
  return pixels;
}

std::vector<int> Top1(const std::vector<float>& logits, int classes) {
  std::vector<int> top;
  for (size_t i = 0; i + classes <= logits.size(); i += classes) {
    top.push_back(std::max_element(logits.begin() + i, logits.begin() + i + classes) -
                  (logits.begin() + i));
  }
  return top;
}

// Largest, middle (lower median by MACs) and smallest, without repeats.
std::vector<std::pair<std::string, const SubnetMeta*>> PickSubnets(const Bundle& bundle) {
  std::vector<const SubnetMeta*> by_macs;
  for (const SubnetMeta& s : bundle.metadata().subnets) by_macs.push_back(&s);
  std::sort(by_macs.begin(), by_macs.end(),
            [](const SubnetMeta* a, const SubnetMeta* b) { return a->macs < b->macs; });
  std::vector<std::pair<std::string, const SubnetMeta*>> picked = {
      {"largest", by_macs.back()},
      {"middle", by_macs[(by_macs.size() - 1) / 2]},
      {"smallest", by_macs.front()}};
  std::vector<std::pair<std::string, const SubnetMeta*>> unique;
  for (const auto& p : picked) {
    bool seen = false;
    for (const auto& u : unique) seen = seen || u.second == p.second;
    if (!seen) unique.push_back(p);
  }
  return unique;
}

}  // namespace

absl::StatusOr<std::shared_ptr<E2eSuite>> RegisterE2eSuite(const BenchOptions& options,
                                                           ResultTable* table) {
  auto suite = std::make_shared<E2eSuite>();
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(options.bundle);
  if (!bundle.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--bundle: ", bundle.status().message()));
  }
  suite->bundle = std::move(*bundle);
  const Bundle& b = *suite->bundle;
  const int classes = b.metadata().arch.num_classes;
  suite->images = LoadImages(kMaxBatch + kCalibrationImages);
  const absl::Span<const float> timing(suite->images.data(), kMaxBatch * kImagePixels);
  const absl::Span<const float> calibration =
      absl::MakeConstSpan(suite->images).subspan(kMaxBatch * kImagePixels);

  SetTorchThreads(kThreads);
  const absl::Status int8_engine = UseOnednnQuantizedEngine();
  const auto picked = PickSubnets(b);
  std::vector<int> ids;
  for (const auto& p : picked) ids.push_back(p.second->id);
  absl::StatusOr<TernaryRunners> ternary = CreateTernaryRunners(b, ids, kThreads);

  for (size_t i = 0; i < picked.size(); ++i) {
    SubnetCase c;
    c.role = picked[i].first;
    c.subnet = picked[i].second;
    Contestant t{"ternary_ms", "ternary", nullptr, ""};
    if (ternary.ok()) {
      t.runner = std::move(ternary->runners[i]);
    } else {
      t.note = absl::StrCat("ternary: ", ternary.status().message());
    }
    Contestant f{"torch_fp32_ms", "torch_fp32", nullptr, ""};
    absl::StatusOr<std::unique_ptr<SubnetRunner>> fp32 = CreateFrozenFp32Net(b, *c.subnet);
    if (fp32.ok())
      f.runner = std::move(*fp32);
    else
      f.note = absl::StrCat("torch_fp32: ", fp32.status().message());
    Contestant q{"torch_int8_ms", "torch_int8", nullptr, ""};
    if (int8_engine.ok()) {
      absl::StatusOr<std::unique_ptr<SubnetRunner>> int8 =
          CreateOnednnInt8Net(b, *c.subnet, calibration, kCalibrationImages);
      if (int8.ok())
        q.runner = std::move(*int8);
      else
        q.note = absl::StrCat("torch_int8: ", int8.status().message());
    } else {
      q.note = absl::StrCat("torch_int8: ", int8_engine.message());
    }
    c.contestants.push_back(std::move(t));
    c.contestants.push_back(std::move(f));
    c.contestants.push_back(std::move(q));

    // One checked run each: a contestant that fails or disagrees with fp32 says so up front.
    std::vector<int> reference;
    for (Contestant& k : c.contestants) {
      if (k.runner == nullptr) continue;
      absl::StatusOr<std::vector<float>> logits = k.runner->Run(timing, kMaxBatch);
      if (!logits.ok()) {
        k.note = absl::StrCat(k.name, ": ", logits.status().message());
        k.runner = nullptr;
        continue;
      }
      const std::vector<int> top = Top1(*logits, classes);
      if (std::string(k.name) == "torch_fp32") reference = top;
    }
    for (Contestant& k : c.contestants) {
      if (k.runner == nullptr || reference.empty() || std::string(k.name) == "torch_fp32") continue;
      const std::vector<int> top = Top1(*k.runner->Run(timing, kMaxBatch), classes);
      int agree = 0;
      for (size_t j = 0; j < top.size(); ++j) agree += top[j] == reference[j];
      std::fprintf(stderr,
                   "ternserve-bench: %s %s: top-1 agrees with torch_fp32 on %d/%zu images\n",
                   c.subnet->name.c_str(), k.name, agree, top.size());
    }
    suite->cases.push_back(std::move(c));
  }

  for (const SubnetCase& c : suite->cases) {
    for (int batch : kBatches) {
      const int row = table->AddRow({{"subnet", c.role},
                                     {"subnet_name", c.subnet->name},
                                     {"macs", c.subnet->macs},
                                     {"batch", batch},
                                     {"threads", kThreads}},
                                    {"ternary_ms", "torch_fp32_ms", "torch_int8_ms"});
      for (const Contestant& k : c.contestants) {
        if (k.runner == nullptr) {
          table->AddNote(row, k.note);
          continue;
        }
        const std::string name =
            absl::StrCat("e2e/", c.role, "/b", batch, "/t", kThreads, "/", k.name);
        table->Bind(name, row, k.column, Metric::kMilliseconds);
        SubnetRunner* runner = k.runner.get();
        const absl::Span<const float> images = timing.subspan(0, batch * kImagePixels);
        const bool torch = std::string(k.name) != "ternary";
        benchmark::RegisterBenchmark(name.c_str(),
                                     [=](benchmark::State& state) {
                                       if (torch) SetTorchThreads(kThreads);
                                       for (auto _ : state) {
                                         absl::StatusOr<std::vector<float>> logits =
                                             runner->Run(images, batch);
                                         if (!logits.ok()) {
                                           state.SkipWithError(logits.status().ToString().c_str());
                                           break;
                                         }
                                         benchmark::DoNotOptimize(logits->data());
                                       }
                                       state.counters["img/s"] = benchmark::Counter(
                                           batch, benchmark::Counter::kIsIterationInvariantRate);
                                     })
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }

  for (const SubnetCase& c : suite->cases) {
    const SubnetRunner* fp32 = c.contestants[1].runner.get();
    const SubnetRunner* ternary_runner = c.contestants[0].runner.get();
    nlohmann::ordered_json fields = {{"subnet", c.role}, {"subnet_name", c.subnet->name}};
    fields["fp32_weight_bytes"] = fp32 ? nlohmann::ordered_json(fp32->weight_bytes()) : nullptr;
    fields["ternary_weight_bytes"] =
        ternary_runner ? nlohmann::ordered_json(ternary_runner->weight_bytes()) : nullptr;
    fields["ratio"] = nullptr;
    if (fp32 && ternary_runner) {
      fields["ratio"] =
          std::round(100.0 * fp32->weight_bytes() / ternary_runner->weight_bytes()) / 100.0;
    }
    const int row = table->AddRow(std::move(fields), {});
    if (!ternary_runner) table->AddNote(row, c.contestants[0].note);
  }
  return suite;
}

}  // namespace ternserve::bench
