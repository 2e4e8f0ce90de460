#include "bench/e2e_suite.h"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/agreement.h"
#include "bench/register_run.h"
#include "bench/subnet_runner.h"
#include "bench/ternary_e2e.h"
#include "bench/torch_layers.h"
#include "bench/torch_nets.h"
#include "models/bundle.h"

namespace ternserve::bench {

// One column of a sub-net's rows.
struct Contestant {
  std::string name;                      // "ternary", "torch_fp32", "torch_int8"
  std::string column;                    // name + "_ms"
  std::unique_ptr<SubnetRunner> runner;  // null: not available, see `note`
  std::string note;
  double agreement = -1;  // top-1 agreement with torch_fp32 (agreement.h); -1: not measured
};

struct SubnetCase {
  std::string role;  // "largest", "middle", "smallest"
  const SubnetMeta* subnet = nullptr;
  std::vector<Contestant> contestants;  // ternary, torch_fp32, torch_int8
};

class E2eSuite {
 public:
  std::unique_ptr<Bundle> bundle;
  // kAgreementImages test images (the first kMaxBatch are also the timing images), then
  // kCalibrationImages more for the int8 calibration; uniform noise if the data set is missing.
  std::vector<float> images;
  bool synthetic = false;
  std::vector<SubnetCase> cases;
};

namespace {

constexpr int kBatches[] = {1, 32};
constexpr int kMaxBatch = 32;
constexpr int kCalibrationImages = 256;

// Largest, middle (lower median by MACs) and smallest, without repeats.
std::vector<std::pair<std::string, const SubnetMeta*>> PickSubnets(const Bundle& bundle) {
  std::vector<const SubnetMeta*> by_macs;
  for (const SubnetMeta& s : bundle.metadata().subnets) by_macs.push_back(&s);
  std::sort(by_macs.begin(), by_macs.end(),
            [](const SubnetMeta* a, const SubnetMeta* b) { return a->macs < b->macs; });
  std::vector<std::pair<std::string, const SubnetMeta*>> picked;
  for (const auto& [role, subnet] : {std::make_pair("largest", by_macs.back()),
                                     std::make_pair("middle", by_macs[(by_macs.size() - 1) / 2]),
                                     std::make_pair("smallest", by_macs.front())}) {
    bool seen = false;
    for (const auto& p : picked) seen = seen || p.second == subnet;
    if (!seen) picked.emplace_back(role, subnet);
  }
  return picked;
}

Contestant MakeContestant(const std::string& name,
                          absl::StatusOr<std::unique_ptr<SubnetRunner>> runner) {
  Contestant c{name, name + "_ms", nullptr, ""};
  if (runner.ok()) {
    c.runner = std::move(*runner);
  } else {
    c.note = absl::StrCat(name, ": ", runner.status().message());
  }
  return c;
}

// Runs every contestant over the agreement images: one that fails is dropped (with a note); the
// others get their top-1 agreement with torch_fp32 (logged to stderr). Returns the failures of the
// bound, one message each (none on synthetic input).
std::vector<std::string> CheckAgreement(SubnetCase* c, absl::Span<const float> images, int classes,
                                        bool synthetic) {
  std::vector<std::vector<int>> tops(c->contestants.size());
  for (size_t i = 0; i < c->contestants.size(); ++i) {
    Contestant& k = c->contestants[i];
    if (k.runner == nullptr) continue;
    absl::StatusOr<std::vector<int>> top =
        Top1OfImages(*k.runner, images, kAgreementImages, kMaxBatch, classes);
    if (!top.ok()) {
      k.note = absl::StrCat(k.name, ": ", top.status().message());
      k.runner = nullptr;
      continue;
    }
    tops[i] = std::move(*top);
  }
  std::vector<std::string> failures;
  const std::vector<int>& reference = tops[1];  // torch_fp32
  for (size_t i = 0; i < tops.size(); ++i) {
    Contestant& k = c->contestants[i];
    if (i == 1 || tops[i].empty() || reference.empty()) continue;
    k.agreement = Agreement(tops[i], reference);
    const std::string what = absl::StrFormat(
        "%s on %s (%s): top-1 agrees with torch_fp32 on %.2f%% of %d %s images", k.name, c->role,
        c->subnet->name, 100 * k.agreement, kAgreementImages, synthetic ? "synthetic" : "test");
    std::fprintf(stderr, "ternserve-bench: %s\n", what.c_str());
    if (!synthetic && k.agreement < kMinTop1Agreement) {
      failures.push_back(
          absl::StrFormat("%s, below the bound of %.0f%%", what, 100 * kMinTop1Agreement));
    }
  }
  return failures;
}

// Resident weight bytes: the fp32 network of the sub-net vs the whole TernaryEngine (every layer at
// full width and every sub-net's epilogue, so the ratio is a lower bound for one sub-net).
void AddWeightRow(const SubnetCase& c, ResultTable* table) {
  const SubnetRunner* ternary = c.contestants[0].runner.get();
  const SubnetRunner* fp32 = c.contestants[1].runner.get();
  nlohmann::ordered_json fields = {{"subnet", c.role}, {"subnet_name", c.subnet->name}};
  fields["fp32_weight_bytes"] = fp32 ? nlohmann::ordered_json(fp32->weight_bytes()) : nullptr;
  fields["ternary_weight_bytes"] =
      ternary ? nlohmann::ordered_json(ternary->weight_bytes()) : nullptr;
  fields["ratio"] = nullptr;
  if (fp32 && ternary) {
    fields["ratio"] = std::round(100.0 * fp32->weight_bytes() / ternary->weight_bytes()) / 100.0;
  }
  const int row = table->AddRow(std::move(fields), {});
  if (!ternary) table->AddNote(row, c.contestants[0].note);
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
  suite->images = LoadAgreementImages(kAgreementImages + kCalibrationImages, &suite->synthetic);
  const absl::Span<const float> all = suite->images;
  const absl::Span<const float> agreement = all.subspan(0, kAgreementImages * kImagePixels);
  const absl::Span<const float> timing = all.subspan(0, kMaxBatch * kImagePixels);
  const absl::Span<const float> calibration = all.subspan(kAgreementImages * kImagePixels);
  const int classes = b.metadata().arch.num_classes;

  SetTorchThreads(options.e2e_threads);
  const absl::Status int8_engine = UseOnednnQuantizedEngine();
  const auto picked = PickSubnets(b);
  std::vector<int> ids;
  for (const auto& p : picked) ids.push_back(p.second->id);
  absl::StatusOr<TernaryRunners> ternary = CreateTernaryRunners(b, ids, options.e2e_threads);

  std::vector<std::string> failures;
  for (size_t i = 0; i < picked.size(); ++i) {
    SubnetCase c{picked[i].first, picked[i].second, {}};
    c.contestants.push_back(MakeContestant(
        "ternary",
        ternary.ok() ? absl::StatusOr<std::unique_ptr<SubnetRunner>>(std::move(ternary->runners[i]))
                     : ternary.status()));
    c.contestants.push_back(MakeContestant("torch_fp32", CreateFrozenFp32Net(b, *c.subnet)));
    c.contestants.push_back(MakeContestant(
        "torch_int8", int8_engine.ok()
                          ? CreateOnednnInt8Net(b, *c.subnet, calibration, kCalibrationImages)
                          : int8_engine));
    for (Contestant& k : c.contestants) {
      if (k.name == options.testonly_perturb && k.runner != nullptr) {
        k.runner = RotateLogits(std::move(k.runner), classes);
      }
    }
    for (std::string& f : CheckAgreement(&c, agreement, classes, suite->synthetic)) {
      failures.push_back(std::move(f));
    }
    suite->cases.push_back(std::move(c));
  }
  if (!failures.empty()) {
    return absl::InternalError(
        absl::StrCat("agreement check failed: ", absl::StrJoin(failures, "; ")));
  }

  for (const SubnetCase& c : suite->cases) {
    for (int batch : kBatches) {
      const int row = table->AddRow({{"subnet", c.role},
                                     {"subnet_name", c.subnet->name},
                                     {"macs", c.subnet->macs},
                                     {"batch", batch},
                                     {"threads", options.e2e_threads},
                                     {"isa", ternary.ok() ? ternary->isa : "n/a"},
                                     {"input", suite->synthetic ? "synthetic" : "fashion-mnist"}},
                                    {"ternary_ms", "torch_fp32_ms", "torch_int8_ms"});
      table->AddRatio(row, "x_fp32", "torch_fp32_ms", "ternary_ms");
      table->AddRatio(row, "x_int8", "torch_int8_ms", "ternary_ms");
      for (const Contestant& k : c.contestants) {
        if (k.name == "torch_fp32") continue;
        table->SetField(row, k.name + "_top1_agree",
                        k.agreement < 0 ? nlohmann::ordered_json()
                                        : nlohmann::ordered_json(Round(k.agreement, 4)));
      }
      table->SetField(row, "agree_images", kAgreementImages);
      for (const Contestant& k : c.contestants) {
        if (k.runner == nullptr) {
          table->AddNote(row, k.note);
          continue;
        }
        const std::string name =
            absl::StrCat("e2e/", c.role, "/b", batch, "/t", options.e2e_threads, "/", k.name);
        table->Bind(name, row, k.column, Metric::kMilliseconds);
        std::function<void()> before;
        if (k.name != "ternary") {
          before = [threads = options.e2e_threads] { SetTorchThreads(threads); };
        }
        RegisterSubnetRun(name, k.runner.get(), timing.subspan(0, batch * kImagePixels), batch,
                          std::move(before));
      }
    }
  }
  for (const SubnetCase& c : suite->cases) AddWeightRow(c, table);
  return suite;
}

}  // namespace ternserve::bench
