#include "models/subnet_search.h"

#include <chrono>
#include <fstream>
#include <set>

#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"

namespace ternserve {
namespace {

constexpr int kEvalBatch = 500;

}  // namespace

SearchResult SearchSubnets(Supernet& net, const TrainingData& data, const SearchOptions& options) {
  net->eval();
  const std::vector<SubnetConfig> candidates =
      options.fixed.empty() ? SearchCandidates(net->arch(), options.samples, options.seed)
                            : options.fixed;
  const Split calib = data.train.Head(options.calib_images);
  SearchResult result;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < candidates.size(); ++i) {
    EvaluatedSubnet e;
    e.config = candidates[i];
    e.macs = CountMacs(net->arch(), e.config);
    BnStats stats = CalibrateBn(net, e.config, calib.images, kEvalBatch);
    e.val_accuracy =
        EvaluateAccuracy(net, e.config, stats, data.val.images, data.val.labels, kEvalBatch);
    e.test_accuracy =
        EvaluateAccuracy(net, e.config, stats, data.test.images, data.test.labels, kEvalBatch);
    result.evaluated.push_back(e);
    result.stats.push_back(std::move(stats));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\rsearch %zu/%zu  %-22s %7.2f M MACs  val %.2f%%  ETA %.0fs   ", i + 1,
                 candidates.size(), SubnetName(e.config).c_str(), e.macs / 1e6,
                 100 * e.val_accuracy, seconds / (i + 1) * (candidates.size() - i - 1));
  }
  std::fprintf(stderr, "\n");
  if (options.fixed.empty()) {
    result.front = ParetoFront(result.evaluated);
    result.chosen = ThinFront(result.evaluated, result.front, options.max_subnets);
  } else {
    for (size_t i = 0; i < result.evaluated.size(); ++i) result.chosen.push_back(i);
    result.front = ParetoFront(result.evaluated);
  }
  spdlog::info("evaluated {} sub-nets; Pareto front {}, chosen {}", result.evaluated.size(),
               result.front.size(), result.chosen.size());
  return result;
}

void WriteSearchCsv(const SearchResult& result, const std::string& path) {
  std::ofstream out(path);
  const std::set<size_t> front(result.front.begin(), result.front.end());
  const std::set<size_t> chosen(result.chosen.begin(), result.chosen.end());
  out << "name,depths,widths,macs,val_accuracy,test_accuracy,pareto,chosen\n";
  for (size_t i = 0; i < result.evaluated.size(); ++i) {
    const EvaluatedSubnet& e = result.evaluated[i];
    out << SubnetName(e.config) << "," << absl::StrJoin(e.config.depths, ".") << ","
        << absl::StrJoin(e.config.widths, ".") << "," << e.macs << "," << e.val_accuracy << ","
        << e.test_accuracy << "," << front.count(i) << "," << chosen.count(i) << "\n";
  }
}

}  // namespace ternserve
