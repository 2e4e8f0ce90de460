// Choosing the sub-nets a bundle serves: candidates from the 1,728-sub-net space, and the
// accuracy/MACs Pareto front over the evaluated ones. Pure functions of plain data; no LibTorch.
#ifndef TERNSERVE_MODELS_PARETO_H_
#define TERNSERVE_MODELS_PARETO_H_

#include <cstdint>
#include <vector>

#include "models/arch.h"

namespace ternserve {

struct EvaluatedSubnet {
  SubnetConfig config;
  int64_t macs = 0;
  double val_accuracy = 0;   // selection uses this only
  double test_accuracy = 0;  // reported, never used to select
};

// The candidates to evaluate: the largest and smallest sub-nets, the 12 uniform ones (one depth and
// one width multiplier for every stage), and `samples` more drawn uniformly from the space with
// `seed`; no duplicates.
std::vector<SubnetConfig> SearchCandidates(const ArchConfig& arch, int samples, uint64_t seed);

// Indices of the Pareto-optimal sub-nets (no other has fewer or equal MACs and higher validation
// accuracy), ordered by MACs; accuracy strictly increases along the front.
std::vector<size_t> ParetoFront(const std::vector<EvaluatedSubnet>& evaluated);

// At most `max_count` of `front` (indices into `evaluated`, ordered by MACs), spread evenly in
// log(MACs); the cheapest and the most accurate are always kept.
std::vector<size_t> ThinFront(const std::vector<EvaluatedSubnet>& evaluated,
                              const std::vector<size_t>& front, size_t max_count);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_PARETO_H_
