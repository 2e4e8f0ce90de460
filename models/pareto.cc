#include "models/pareto.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

namespace ternserve {

std::vector<SubnetConfig> SearchCandidates(const ArchConfig& arch, int samples, uint64_t seed) {
  std::vector<SubnetConfig> out = {LargestSubnet(arch), SmallestSubnet(arch)};
  for (int depth : arch.depth_choices) {
    for (double mult : arch.width_mults) {
      SubnetConfig s;
      for (int i = 0; i < kNumStages; ++i) {
        s.depths[i] = depth;
        s.widths[i] = arch.StageWidth(i, mult);
      }
      out.push_back(s);
    }
  }
  const std::vector<SubnetConfig> space = AllSubnets(arch);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, space.size() - 1);
  for (int i = 0; i < samples; ++i) out.push_back(space[pick(rng)]);
  std::vector<SubnetConfig> unique;
  std::set<std::string> seen;
  for (const SubnetConfig& s : out) {
    if (seen.insert(SubnetName(s)).second) unique.push_back(s);
  }
  return unique;
}

std::vector<size_t> ParetoFront(const std::vector<EvaluatedSubnet>& evaluated) {
  std::vector<size_t> order(evaluated.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  // By MACs, and among equal MACs the most accurate first, so it is the one kept.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (evaluated[a].macs != evaluated[b].macs) return evaluated[a].macs < evaluated[b].macs;
    return evaluated[a].val_accuracy > evaluated[b].val_accuracy;
  });
  std::vector<size_t> front;
  double best = -1;
  for (size_t i : order) {
    if (evaluated[i].val_accuracy > best) {
      front.push_back(i);
      best = evaluated[i].val_accuracy;
    }
  }
  return front;
}

std::vector<size_t> ThinFront(const std::vector<EvaluatedSubnet>& evaluated,
                              const std::vector<size_t>& front, size_t max_count) {
  if (front.size() <= max_count || max_count < 2) return front;
  const double lo = std::log(static_cast<double>(evaluated[front.front()].macs));
  const double hi = std::log(static_cast<double>(evaluated[front.back()].macs));
  std::set<size_t> kept = {0, front.size() - 1};
  // For each evenly spaced target in log(MACs), the nearest unused front member.
  for (size_t k = 1; k + 1 < max_count; ++k) {
    const double target = lo + (hi - lo) * k / (max_count - 1);
    size_t best = 0;
    double best_distance = 1e300;
    for (size_t j = 1; j + 1 < front.size(); ++j) {
      if (kept.count(j)) continue;
      const double d = std::abs(std::log(static_cast<double>(evaluated[front[j]].macs)) - target);
      if (d < best_distance) {
        best_distance = d;
        best = j;
      }
    }
    if (best != 0) kept.insert(best);
  }
  std::vector<size_t> out;
  for (size_t j : kept) out.push_back(front[j]);
  return out;
}

}  // namespace ternserve
