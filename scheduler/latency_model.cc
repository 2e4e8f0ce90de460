// Online latency model. See latency_model.h.
#include "scheduler/latency_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ternserve {

absl::Status ValidateLatencyModelOptions(const LatencyModelOptions& o) {
  if (o.min_samples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("latency model: min_samples=", o.min_samples, " must be >= 1"));
  }
  if (o.window < o.min_samples || o.window > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("latency model: window=", o.window, " must be in [min_samples, 4096]"));
  }
  if (!(o.tail_quantile >= 0.5 && o.tail_quantile < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("latency model: tail_quantile=", o.tail_quantile, " must be in [0.5, 1)"));
  }
  if (!(o.min_scale > 0 && o.min_scale <= 1 && o.max_scale >= 1 && o.max_scale <= 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat("latency model: need 0 < min_scale <= 1 <= max_scale <= 100, got ",
                     o.min_scale, " and ", o.max_scale));
  }
  return absl::OkStatus();
}

OnlineLatencyModel::OnlineLatencyModel(const LatencyProfile& profile,
                                       const LatencyModelOptions& options)
    : options_(options), overhead_us_(profile.overhead_us), subnets_(profile.subnets) {
  to_p50_.reserve(static_cast<size_t>(options_.window));
  to_p99_.reserve(static_cast<size_t>(options_.window));
}

void OnlineLatencyModel::Observe(int subnet_id, int batch, absl::Duration compute_time) {
  if (batch < 1 || compute_time <= absl::ZeroDuration()) return;
  const auto subnet = std::find_if(subnets_.begin(), subnets_.end(),
                                   [&](const SubnetLatency& s) { return s.id == subnet_id; });
  if (subnet == subnets_.end()) return;
  const double measured_us = absl::ToDoubleMicroseconds(compute_time);
  const double p50 = measured_us / (P50Us(*subnet, batch) + overhead_us_);
  const double p99 = measured_us / (P99Us(*subnet, batch) + overhead_us_);
  if (to_p50_.size() < static_cast<size_t>(options_.window)) {
    to_p50_.push_back(p50);
    to_p99_.push_back(p99);
  } else {
    to_p50_[next_] = p50;
    to_p99_[next_] = p99;
    next_ = (next_ + 1) % to_p50_.size();
  }
  ++observed_;
  Update();
}

void OnlineLatencyModel::Update() {
  const size_t n = to_p50_.size();
  if (n < static_cast<size_t>(options_.min_samples)) return;
  // Order statistics: the median (the upper one for even n) and the tail quantile, the value with
  // floor(q x n) ratios below it.
  scratch_.assign(to_p50_.begin(), to_p50_.end());
  std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(n / 2),
                   scratch_.end());
  median_ratio_ = scratch_[n / 2];
  const size_t k = std::min(
      n - 1, static_cast<size_t>(std::floor(options_.tail_quantile * static_cast<double>(n))));
  scratch_.assign(to_p99_.begin(), to_p99_.end());
  std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(k),
                   scratch_.end());
  tail_ratio_ = scratch_[k];
  scale_ = std::clamp(std::max(median_ratio_, tail_ratio_), options_.min_scale, options_.max_scale);
}

}  // namespace ternserve
