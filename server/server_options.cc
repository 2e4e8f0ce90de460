// The one validator of ServerOptions. See server_options.h.
#include "server/server_options.h"

#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "scheduler/policy.h"

namespace ternserve {
namespace {

// "--name=value is not in [lo, hi]" unless lo <= value <= hi.
template <typename T>
void CheckRange(const char* flag, T value, T lo, T hi, std::vector<std::string>* errors) {
  if (!(value >= lo && value <= hi)) {
    errors->push_back(absl::StrCat("--", flag, "=", value, " is not in [", lo, ", ", hi, "]"));
  }
}

}  // namespace

std::vector<std::string> KernelNames() {
  size_t count = 0;
  const kernels::TernaryConvKernel* table = kernels::TernaryConvKernels(&count);
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(table[i].name);
  return names;
}

void ParseEngineFlags(const std::string& engine, const std::string& isa,
                      const EngineFactory& factory, ServerOptions* options,
                      std::vector<std::string>* errors) {
  if (absl::StatusOr<EngineKind> kind = ParseEngineKind(engine); !kind.ok()) {
    errors->push_back(absl::StrCat("--engine: ", kind.status().message()));
  } else if (absl::Status supported = factory.Supports(*kind); !supported.ok()) {
    errors->push_back(std::string(supported.message()));
  } else {
    options->engine = *kind;
  }
  options->kernel = nullptr;
  if (isa.empty()) return;
  options->kernel = kernels::FindTernaryConvKernel(isa.c_str());
  if (options->kernel == nullptr) {
    errors->push_back(absl::StrCat(
        "--isa=", isa, " is unknown; valid: ", absl::StrJoin(KernelNames(), ", "), " (or empty)"));
  }
}

std::vector<std::string> ValidateServerOptions(const ServerOptions& o) {
  std::vector<std::string> errors;
  if (o.bundle_path.empty()) errors.push_back("--bundle must not be empty");
  if (o.host.empty()) errors.push_back("--host must not be empty");
  CheckRange("port", o.port, 0, 65535, &errors);
  if (o.metrics_port < -1 || o.metrics_port > 65535) {
    errors.push_back(absl::StrCat("--metrics_port=", o.metrics_port,
                                  " is not in [0, 65535] (or -1 for no metrics)"));
  } else if (o.metrics_port > 0 && o.metrics_port == o.port) {
    errors.push_back(
        absl::StrCat("--metrics_port=", o.metrics_port, " is the same as --port=", o.port));
  }
  if (o.subnet_id < -1) {
    errors.push_back(absl::StrCat("--subnet=", o.subnet_id, " must be a sub-net id or -1"));
  }
  if (o.kernel != nullptr && o.engine != EngineKind::kTernary) {
    errors.push_back("--isa applies only to --engine=ternary");
  }
  if (absl::Status policy = ValidatePolicySpec(o.policy); !policy.ok()) {
    errors.push_back(absl::StrCat("--policy: ", policy.message()));
  }
  if (!std::isfinite(o.profile_budget_s) || o.profile_budget_s <= 0 || o.profile_budget_s > 600) {
    errors.push_back(
        absl::StrCat("--profile_budget_s=", o.profile_budget_s, " is not in (0, 600]"));
  }
  CheckRange("workers", o.workers, 1, 64, &errors);
  CheckRange("threads", o.threads, 0, 256, &errors);
  if (!o.worker_cpus.empty()) {
    if (static_cast<int>(o.worker_cpus.size()) != o.workers) {
      errors.push_back(absl::StrCat("--worker_cpus lists ", o.worker_cpus.size(),
                                    " CPU(s) but --workers=", o.workers, ": give one per worker"));
    }
    if (o.threads > 1) {
      errors.push_back(absl::StrCat("--worker_cpus needs --threads=1 (or 0); --threads=", o.threads,
                                    " would put several engine threads on one CPU"));
    }
  }
  CheckRange("worker_spin_us", o.worker_spin_us, 0, 10'000'000, &errors);
  CheckRange("max_batch", o.max_batch, 1, 4096, &errors);
  CheckRange("max_queue", o.max_queue, 1, 10'000'000, &errors);
  if (!std::isfinite(o.max_queue_delay_ms) || o.max_queue_delay_ms < 0 ||
      o.max_queue_delay_ms > 3'600'000) {
    errors.push_back(
        absl::StrCat("--max_queue_delay_ms=", o.max_queue_delay_ms, " is not in [0, 3600000]"));
  } else if (o.max_queue_delay_ms > 0 && !absl::StartsWith(o.policy, "fixed")) {
    errors.push_back(absl::StrCat(
        "--max_queue_delay_ms applies to --policy=fixed only, not --policy=", o.policy));
  }
  if (o.drain_timeout < absl::ZeroDuration() || o.drain_timeout > absl::Hours(1)) {
    errors.push_back(absl::StrCat("--drain_timeout=", absl::FormatDuration(o.drain_timeout),
                                  " is not in [0, 1h]"));
  }
  if (o.max_connection_age != absl::ZeroDuration() &&
      (o.max_connection_age < absl::Seconds(1) || o.max_connection_age > absl::Hours(24 * 7))) {
    errors.push_back(
        absl::StrCat("--max_connection_age=", absl::FormatDuration(o.max_connection_age),
                     " is not 0 or in [1s, 168h]"));
  }
  if (!std::isfinite(o.max_slo_ms) || o.max_slo_ms <= 0) {
    errors.push_back(absl::StrCat("--max_slo_ms=", o.max_slo_ms, " must be a positive number"));
  }
  if (!std::isfinite(o.default_slo_ms) || o.default_slo_ms <= 0) {
    errors.push_back(
        absl::StrCat("--default_slo_ms=", o.default_slo_ms, " must be a positive number"));
  } else if (o.default_slo_ms > o.max_slo_ms) {
    errors.push_back(absl::StrCat("--default_slo_ms=", o.default_slo_ms,
                                  " is more than --max_slo_ms=", o.max_slo_ms));
  } else if (!std::isfinite(o.slo_reserve_ms) || o.slo_reserve_ms < 0 ||
             o.slo_reserve_ms >= o.default_slo_ms) {
    errors.push_back(absl::StrCat("--slo_reserve_ms=", o.slo_reserve_ms,
                                  " is not in [0, --default_slo_ms=", o.default_slo_ms, ")"));
  }
  CheckRange("max_message_bytes", o.max_receive_message_bytes, 1024, 1 << 30, &errors);
  CheckRange("max_images_per_request", o.max_images_per_request, 1, 1 << 16, &errors);
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    errors.push_back("--tls_cert and --tls_key go together: give both or neither");
  }
  if (!o.tls_client_ca.empty() && o.tls_cert.empty()) {
    errors.push_back("--tls_client_ca needs TLS on: give --tls_cert and --tls_key too");
  }
  return errors;
}

}  // namespace ternserve
