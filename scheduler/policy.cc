// CreatePolicy: policy specs to policies. See policy.h.
#include "scheduler/policy.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "scheduler/clipper_policy.h"
#include "scheduler/fixed_policy.h"
#include "scheduler/infaas_policy.h"
#include "scheduler/slackfit.h"

namespace ternserve {
namespace {

// The sub-net named by "<name>:<id>", or the most accurate one for a bare "<name>".
absl::StatusOr<const SubnetLatency*> SubnetArgument(absl::string_view spec,
                                                    absl::string_view argument, bool has_argument,
                                                    const LatencyProfile& profile) {
  if (!has_argument) {
    return &profile.subnets[static_cast<size_t>(profile.MostAccurateIndex())];
  }
  int id = 0;
  if (!absl::SimpleAtoi(argument, &id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy '", spec, "': '", argument, "' is not a sub-net id"));
  }
  const SubnetLatency* subnet = profile.Find(id);
  if (subnet == nullptr) {
    std::string ids;
    for (const SubnetLatency& s : profile.subnets)
      absl::StrAppend(&ids, ids.empty() ? "" : ", ", s.id);
    return absl::NotFoundError(absl::StrCat("policy '", spec, "': sub-net ", id,
                                            " is not in the profile; valid ids: ", ids));
  }
  return subnet;
}

}  // namespace

absl::Status ValidatePolicySpec(absl::string_view spec) {
  const std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(spec, absl::MaxSplits(':', 1));
  const bool has_argument = spec.find(':') != absl::string_view::npos;
  int id = 0;
  if (parts.first == "slackfit" || parts.first == "infaas") {
    if (!has_argument) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("policy '", spec, "': ", parts.first, " takes no argument"));
  }
  if (parts.first == "fixed" || parts.first == "clipper") {
    if (!has_argument || absl::SimpleAtoi(parts.second, &id)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("policy '", spec, "': '", parts.second, "' is not a sub-net id"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown policy '", spec, "'; valid policies: ", kPolicyNames));
}

namespace {

// The policy `spec` names, without a latency model.
absl::StatusOr<std::unique_ptr<Policy>> CreateBarePolicy(absl::string_view spec,
                                                         const LatencyProfile& profile,
                                                         const PolicyOptions& options) {
  const std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(spec, absl::MaxSplits(':', 1));
  const absl::string_view kind = parts.first;
  const bool has_argument = spec.find(':') != absl::string_view::npos;
  const int max_batch = options.max_batch > 0 ? options.max_batch : profile.MaxBatch();
  const absl::Duration overhead = absl::Microseconds(profile.overhead_us);

  if (kind == "slackfit") {
    return std::make_unique<SlackFitPolicy>(
        profile, options.slackfit_buckets, options.max_batch, SlackFitPolicy::kDefaultDrainFactor,
        SlackFitPolicy::kDefaultSustainMargin, std::max(1, options.workers));
  }
  if (kind == "infaas") return std::make_unique<InfaasPolicy>(profile, max_batch);
  if (kind == "fixed" || kind == "clipper") {
    absl::StatusOr<const SubnetLatency*> subnet =
        SubnetArgument(spec, parts.second, has_argument, profile);
    if (!subnet.ok()) return subnet.status();
    const absl::Duration min_latency = absl::Microseconds(P99Us(**subnet, 1));
    std::unique_ptr<Policy> policy;
    if (kind == "fixed") {
      policy = std::make_unique<FixedPolicy>((*subnet)->id, max_batch, options.max_queue_delay,
                                             min_latency, overhead);
    } else {
      policy = std::make_unique<ClipperPolicy>((*subnet)->id, max_batch, min_latency, overhead);
    }
    policy->SetRunnableSubnets(profile, {(*subnet)->id});
    return policy;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown policy '", spec, "'; valid policies: ", kPolicyNames));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Policy>> CreatePolicy(absl::string_view spec,
                                                     const LatencyProfile& profile,
                                                     const PolicyOptions& options) {
  if (absl::Status valid = ValidateLatencyProfile(profile, "profile"); !valid.ok()) return valid;
  if (absl::Status valid = ValidatePolicySpec(spec); !valid.ok()) return valid;
  if (options.adapt_latency) {
    if (absl::Status valid = ValidateLatencyModelOptions(options.latency_model); !valid.ok()) {
      return valid;
    }
  }
  absl::StatusOr<std::unique_ptr<Policy>> policy = CreateBarePolicy(spec, profile, options);
  if (policy.ok() && options.adapt_latency) {
    (*policy)->AttachLatencyModel(
        std::make_unique<OnlineLatencyModel>(profile, options.latency_model));
  }
  return policy;
}

Policy::~Policy() = default;

HopelessRule Policy::ScaledHopelessRule() const {
  HopelessRule rule = hopeless_rule();
  rule.overhead = rule.overhead * latency_scale_;
  rule.min_latency = rule.min_latency * latency_scale_;
  return rule;
}

void Policy::BatchDone(const BatchOutcome& outcome) {
  if (latency_model_ != nullptr) {
    latency_model_->Observe(outcome.subnet_id, outcome.batch, outcome.compute_time);
    latency_scale_ = latency_model_->scale();
  }
  OnBatchDone(outcome);
}

void Policy::AttachLatencyModel(std::unique_ptr<OnlineLatencyModel> model) {
  latency_model_ = std::move(model);
}

double Policy::max_accuracy() const {
  return floor_tiers_.empty() ? -1 : floor_tiers_.back().accuracy;
}

const FloorTier* Policy::TierFor(double floor) const {
  for (const FloorTier& tier : floor_tiers_) {
    if (tier.accuracy >= floor) return &tier;
  }
  return nullptr;
}

double Policy::AccuracyOf(int subnet_id) const {
  for (const FloorTier& tier : floor_tiers_) {
    if (tier.subnet_id == subnet_id) return tier.accuracy;
  }
  return -1;
}

absl::Duration Policy::MinLatencyForFloor(double floor) const {
  const FloorTier* tier = TierFor(floor);
  if (tier == nullptr) return absl::InfiniteDuration();
  return tier->fastest_latency * latency_scale_;
}

void Policy::SetRunnableSubnets(const LatencyProfile& profile, const std::vector<int>& ids) {
  floor_tiers_.clear();
  for (const SubnetLatency& subnet : profile.subnets) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), subnet.id) == ids.end()) continue;
    FloorTier tier;
    tier.subnet_id = subnet.id;
    tier.accuracy = subnet.accuracy;
    tier.fastest_id = subnet.id;
    tier.fastest_latency = absl::Microseconds(P99Us(subnet, 1));
    floor_tiers_.push_back(tier);
  }
  std::stable_sort(floor_tiers_.begin(), floor_tiers_.end(),
                   [](const FloorTier& a, const FloorTier& b) { return a.accuracy < b.accuracy; });
  // From the most accurate down: each tier's fastest is the fastest of it and those above it.
  for (size_t i = floor_tiers_.size(); i-- > 1;) {
    FloorTier& below = floor_tiers_[i - 1];
    const FloorTier& above = floor_tiers_[i];
    if (above.fastest_latency < below.fastest_latency) {
      below.fastest_id = above.fastest_id;
      below.fastest_latency = above.fastest_latency;
    }
  }
}

double Policy::ScaledSlackUs(absl::Time now, absl::Time deadline, absl::Duration overhead) const {
  return absl::ToDoubleMicroseconds(deadline - now) / latency_scale_ -
         absl::ToDoubleMicroseconds(overhead);
}

HopelessRule FastestSubnetHopelessRule(const LatencyProfile& profile, int late_max_batch) {
  HopelessRule rule;
  rule.overhead = absl::Microseconds(profile.overhead_us);
  const int fastest = profile.FastestIndex();
  if (fastest >= 0) {
    const SubnetLatency& subnet = profile.subnets[static_cast<size_t>(fastest)];
    rule.min_latency = absl::Microseconds(P99Us(subnet, 1));
    rule.late_subnet_id = subnet.id;
    rule.late_max_batch = late_max_batch;
  }
  return rule;
}

}  // namespace ternserve
