// Server wiring: bundle -> engines -> dispatcher -> gRPC. See server.h.
#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "models/ternary_engine.h"
#include "models/torch_engine.h"
#include "scheduler/policy.h"
#include "server/profiler.h"

namespace ternserve {
namespace {

// "host:port", bracketing IPv6 hosts ("[::1]:8001"), as gRPC wants and logs read best.
std::string HostPort(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return ipv6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

// The gRPC port, then the metrics port if metrics are served (-1: off, no second line).
absl::Status WritePortFile(const std::string& path, int port, int metrics_port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (metrics_port >= 0) out << metrics_port << "\n";
    out.close();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write port file ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::Status ValidateOptions(const ServerOptions& options) {
  const auto& engines = ValidEngineNames();
  if (std::find(engines.begin(), engines.end(), options.engine) == engines.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown engine '", options.engine, "'; valid engines: ", absl::StrJoin(engines, ", ")));
  }
  if (options.workers < 1) return absl::InvalidArgumentError("workers must be >= 1");
  if (options.threads < 0) return absl::InvalidArgumentError("threads must be >= 0");
  if (!options.worker_cpus.empty() &&
      (static_cast<int>(options.worker_cpus.size()) != options.workers || options.threads > 1)) {
    return absl::InvalidArgumentError(
        "worker_cpus needs one CPU per worker and threads <= 1 (one engine thread per CPU)");
  }
  if (options.max_batch < 1) return absl::InvalidArgumentError("max_batch must be >= 1");
  if (options.late != "drop" && options.late != "serve") {
    return absl::InvalidArgumentError(
        absl::StrCat("late must be drop or serve, got '", options.late, "'"));
  }
  if (!(options.profile_budget_s > 0)) {
    return absl::InvalidArgumentError("profile_budget_s must be > 0");
  }
  if (options.max_queue < 1) return absl::InvalidArgumentError("max_queue must be >= 1");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError("port must be in [0, 65535]");
  }
  if (options.metrics_port < -1 || options.metrics_port > 65535) {
    return absl::InvalidArgumentError("metrics_port must be in [-1, 65535]");
  }
  if (options.metrics_port > 0 && options.metrics_port == options.port) {
    return absl::InvalidArgumentError("metrics_port must differ from port");
  }
  if (!(options.default_slo_ms > 0) || !(options.max_slo_ms >= options.default_slo_ms)) {
    return absl::InvalidArgumentError("need 0 < default_slo_ms <= max_slo_ms");
  }
  if (!(options.slo_reserve_ms >= 0 && options.slo_reserve_ms < options.default_slo_ms)) {
    return absl::InvalidArgumentError("need 0 <= slo_reserve_ms < default_slo_ms");
  }
  if (options.worker_spin_us < 0) return absl::InvalidArgumentError("worker_spin_us must be >= 0");
  return absl::OkStatus();
}

// "fixed" and "clipper" without an id run --subnet (the largest by default).
std::string PolicySpec(const std::string& policy, int subnet_id) {
  if (policy == "fixed" || policy == "clipper") return absl::StrCat(policy, ":", subnet_id);
  return policy;
}

}  // namespace

const std::vector<std::string>& ValidEngineNames() {
  static const auto* names = new std::vector<std::string>{"ternary", "torch"};
  return *names;
}

absl::StatusOr<int> ResolveSubnet(const Bundle& bundle, int requested) {
  if (requested == -1) return bundle.metadata().subnets.empty() ? -1 : bundle.LargestSubnet().id;
  if (bundle.FindSubnet(requested) != nullptr) return requested;
  std::vector<int> ids;
  for (const SubnetMeta& subnet : bundle.metadata().subnets) ids.push_back(subnet.id);
  return absl::InvalidArgumentError(
      absl::StrCat("sub-net ", requested, " is not in bundle ", bundle.source(),
                   "; valid ids: ", absl::StrJoin(ids, ", "), " (or -1 for the largest)"));
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(options.bundle_path);
  if (!bundle.ok()) return bundle.status();
  return Create(options, *std::move(bundle));
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options,
                                                       std::unique_ptr<Bundle> bundle) {
  if (absl::Status valid = ValidateOptions(options); !valid.ok()) return valid;
  std::unique_ptr<Server> server(new Server());
  if (absl::Status started = server->Start(options, std::move(bundle)); !started.ok()) {
    return started;
  }
  return server;
}

absl::Status Server::Start(const ServerOptions& options, std::unique_ptr<Bundle> bundle) {
  bundle_ = std::move(bundle);
  const BundleMetadata& metadata = bundle_->metadata();
  absl::StatusOr<int> subnet_id = ResolveSubnet(*bundle_, options.subnet_id);
  if (!subnet_id.ok()) return subnet_id.status();
  subnet_id_ = *subnet_id;
  const SubnetMeta* subnet = bundle_->FindSubnet(subnet_id_);
  if (subnet == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("bundle ", bundle_->source(), " has no sub-nets"));
  }

  // Bind the metrics port first: a port in use should fail start-up before minutes of profiling.
  // The metrics themselves are registered below, once the policy and engine are known.
  if (options.metrics_port >= 0) {
    registry_ = std::make_shared<prometheus::Registry>();
    absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
        MetricsEndpoint::Create(options.host, options.metrics_port, registry_);
    if (!endpoint.ok()) {
      return absl::UnavailableError(
          absl::StrCat(endpoint.status().message(),
                       " (--metrics_port=0 picks a free port, -1 turns metrics off)"));
    }
    metrics_endpoint_ = *std::move(endpoint);
    metrics_port_ = metrics_endpoint_->port();
  }

  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int threads = options.threads > 0            ? options.threads
                      : !options.worker_cpus.empty() ? 1
                                                     : std::max(1, cores / options.workers);
  std::string isa;
  std::vector<std::unique_ptr<Engine>> engines;
  for (int w = 0; w < options.workers; ++w) {
    absl::StatusOr<std::unique_ptr<Engine>> engine;
    if (options.engine == "ternary") {
      TernaryEngineOptions ternary_options;
      ternary_options.threads = threads;
      ternary_options.isa = options.isa;
      absl::StatusOr<std::unique_ptr<TernaryEngine>> ternary =
          TernaryEngine::Create(*bundle_, ternary_options);
      if (ternary.ok()) isa = (*ternary)->isa();
      engine = std::move(ternary);
    } else {
      TorchEngineOptions torch_options;
      torch_options.threads = threads;
      engine = CreateTorchEngine(*bundle_, torch_options);
    }
    if (!engine.ok()) return engine.status();
    // Warm up (the first LibTorch run is slow) and fail at start-up, not on the first request.
    const std::vector<float> blank(kImagePixels, 0.0f);
    if (absl::StatusOr<LogitsView> warm = (*engine)->Run(subnet_id_, blank, 1); !warm.ok()) {
      return absl::Status(warm.status().code(),
                          absl::StrCat("engine warm-up failed: ", warm.status().message()));
    }
    engines.push_back(*std::move(engine));
  }

  // The latency profile: loaded and checked against the bundle, or measured now on these engines.
  if (!options.profile_path.empty()) {
    absl::StatusOr<LatencyProfile> loaded = LoadLatencyProfile(options.profile_path);
    if (!loaded.ok()) return loaded.status();
    absl::StatusOr<LatencyProfile> matched =
        MatchProfileToBundle(*std::move(loaded), options.profile_path, *bundle_);
    if (!matched.ok()) return matched.status();
    profile_ = *std::move(matched);
    spdlog::info("latency profile {} ({} sub-nets, engine {}, overhead {:.0f} us)",
                 options.profile_path, profile_.subnets.size(), profile_.engine,
                 profile_.overhead_us);
  } else {
    std::vector<Engine*> engine_ptrs;
    for (const auto& e : engines) engine_ptrs.push_back(e.get());
    ProfilerOptions profiler_options;
    profiler_options.budget = absl::Seconds(options.profile_budget_s);
    // A slow cell costs its warm-up plus min_iterations runs whatever the budget; keep start-up
    // near the budget.
    profiler_options.min_iterations = 2;
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<LatencyProfile> measured =
        MeasureLatencyProfile(*bundle_, engine_ptrs, isa, threads, profiler_options);
    if (!measured.ok()) {
      return absl::Status(measured.status().code(),
                          absl::StrCat("start-up profiling failed: ", measured.status().message()));
    }
    profile_ = *std::move(measured);
    spdlog::info(
        "no --profile: profiled {} sub-nets x {} batch sizes on this machine in {:.1f} s "
        "(ternserve-profile writes a profile to reuse)",
        profile_.subnets.size(), profile_.subnets.front().batches.size(),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  PolicyOptions policy_options;
  policy_options.max_batch = options.max_batch;
  const std::string spec = PolicySpec(options.policy, subnet_id_);
  absl::StatusOr<std::unique_ptr<Policy>> policy = CreatePolicy(spec, profile_, policy_options);
  if (!policy.ok()) return policy.status();
  processor_ = std::make_unique<EngineBatchProcessor>(std::move(engines),
                                                      static_cast<int>(metadata.labels.size()));
  if (registry_ != nullptr) {
    metrics_ = std::make_unique<ServerMetrics>(
        *registry_, metadata,
        BuildInfo{kTernserveVersion, spec, processor_->engine_name(), isa.empty() ? "none" : isa});
  }

  DispatcherOptions dispatcher_options;
  dispatcher_options.workers = options.workers;
  dispatcher_options.max_batch = options.max_batch;
  dispatcher_options.max_queue = options.max_queue;
  dispatcher_options.subnet_id = subnet_id_;
  dispatcher_options.policy = std::shared_ptr<Policy>(*std::move(policy));
  dispatcher_options.late = options.late == "serve" ? LateMode::kServe : LateMode::kDrop;
  dispatcher_options.observer = metrics_.get();
  dispatcher_options.worker_cpus = options.worker_cpus;
  dispatcher_options.idle_spin = absl::Microseconds(options.worker_spin_us);
  dispatcher_ =
      std::make_unique<Dispatcher>(dispatcher_options, processor_.get(), RealClock::Get());
  if (!dispatcher_->pin_status().ok()) return dispatcher_->pin_status();

  ClassifierServiceOptions service_options;
  service_options.limits.default_slo_ms = options.default_slo_ms;
  service_options.limits.max_slo_ms = options.max_slo_ms;
  service_options.limits.slo_reserve_ms = options.slo_reserve_ms;
  service_options.limits.num_classes = static_cast<int>(metadata.labels.size());
  service_options.policy = spec;
  for (const SubnetLatency& sub : profile_.subnets) {
    for (const BatchLatency& b : sub.batches) {
      service_options.latency_table.push_back({sub.id, b.batch, b.p50_us, b.p99_us});
    }
  }
  service_options.engine = processor_->engine_name();
  service_options.metrics = metrics_.get();
  service_ = std::make_unique<ClassifierService>(service_options, &metadata, dispatcher_.get(),
                                                 RealClock::Get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = HostPort(options.host, options.port);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.RegisterService(service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port_ == 0) {
    dispatcher_->Drain();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, " (address in use or not available?)"));
  }
  grpc_server_->GetHealthCheckService()->SetServingStatus(true);

  spdlog::info(
      "serving bundle {} ({} sub-nets), policy {}, late={}, engine {}{} x{} ({} threads each), "
      "max batch {}, on {}:{}{}",
      options.bundle_path, metadata.subnets.size(), spec, options.late, service_options.engine,
      isa.empty() ? "" : absl::StrCat(" (", isa, ")"), options.workers, threads, options.max_batch,
      options.host, port_,
      absl::StrCat(
          options.worker_cpus.empty()
              ? ""
              : absl::StrCat(", workers pinned to CPU ", absl::StrJoin(options.worker_cpus, ",")),
          options.worker_spin_us == 0
              ? ""
              : absl::StrCat(", idle workers spin ", options.worker_spin_us, " us")));
  if (metrics_port_ >= 0) {
    spdlog::info("metrics on http://{}/metrics", HostPort(options.host, metrics_port_));
  } else {
    spdlog::info("metrics off (--metrics_port=-1)");
  }
  if (!options.port_file.empty()) {
    if (absl::Status written = WritePortFile(options.port_file, port_, metrics_port_);
        !written.ok()) {
      Shutdown(absl::ZeroDuration());
      return written;
    }
  }
  return absl::OkStatus();
}

void Server::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (grpc_server_ != nullptr) grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  // Drain first: from now on Enqueue refuses new work (UNAVAILABLE, at once), and Drain returns
  // when every accepted request has been answered, however long the queue. Only then stop gRPC,
  // whose deadline cancels whatever is still open (e.g. a stream whose client never half-closes);
  // no accepted request is in those.
  if (dispatcher_ != nullptr) dispatcher_->Drain();
  if (grpc_server_ != nullptr) {
    grpc_server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    grpc_server_->Wait();
  }
}

Server::~Server() { Shutdown(); }

}  // namespace ternserve
