// SubnetNorm and the Pareto search: every candidate sub-net gets its own BN statistics from
// training images, is evaluated on the validation split (which alone drives selection) and on the
// test split (reported only), and the accuracy/MACs Pareto front, thinned to at most `max_subnets`,
// becomes the bundle's sub-net set.
#ifndef TERNSERVE_MODELS_SUBNET_SEARCH_H_
#define TERNSERVE_MODELS_SUBNET_SEARCH_H_

#include <string>
#include <vector>

#include "models/pareto.h"
#include "models/supernet.h"
#include "models/train_data.h"

namespace ternserve {

struct SearchOptions {
  int samples = 150;  // random sub-nets beyond the extremes and the 12 uniform ones
  uint64_t seed = 1;
  int calib_images = 2000;          // BN recalibration images per sub-net
  size_t max_subnets = 24;          // cap on the chosen set
  std::vector<SubnetConfig> fixed;  // if non-empty: evaluate exactly these and choose them all
};

struct SearchResult {
  std::vector<EvaluatedSubnet> evaluated;
  std::vector<BnStats> stats;  // parallel to `evaluated`
  std::vector<size_t> front;   // Pareto front (indices into evaluated, by MACs)
  std::vector<size_t> chosen;  // the bundle's sub-nets (indices into evaluated, by MACs)
};

SearchResult SearchSubnets(Supernet& net, const TrainingData& data, const SearchOptions& options);

// One row per evaluated sub-net: name, depths, widths, macs, val_accuracy, test_accuracy, pareto,
// chosen.
void WriteSearchCsv(const SearchResult& result, const std::string& path);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_SUBNET_SEARCH_H_
