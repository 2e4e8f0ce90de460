// Server wiring: bundle -> engines -> dispatcher -> gRPC. See server.h.
#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "models/arch.h"
#include "scheduler/policy.h"
#include "server/profiler.h"
#include "server/status_json.h"
#include "server/web_assets.h"
#include "util/text_file.h"
#include "util/version.h"

namespace ternserve {
namespace {

// "host:port", bracketing IPv6 hosts ("[::1]:8001"), as gRPC wants and logs read best.
std::string HostPort(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return ipv6 ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

// The gRPC port, then the metrics port if metrics are served (-1: off, no second line).
absl::Status WritePortFile(const std::string& path, int port, int metrics_port) {
  return WriteFileAtomically(
      path, absl::StrCat(port, "\n",
                         metrics_port >= 0 ? absl::StrCat(metrics_port, "\n") : std::string()));
}

// The whole of a PEM file a TLS flag names, or FAILED_PRECONDITION naming the flag.
absl::StatusOr<std::string> ReadPemFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("--", flag, ": cannot read ", path));
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (contents.find("-----BEGIN ") == std::string::npos) {
    return absl::FailedPreconditionError(
        absl::StrCat("--", flag, ": ", path, " holds no PEM block (-----BEGIN ...)"));
  }
  return contents;
}

// "fixed" and "clipper" without an id run --subnet (the largest by default).
std::string PolicySpec(const std::string& policy, int subnet_id) {
  if (policy == "fixed" || policy == "clipper") return absl::StrCat(policy, ":", subnet_id);
  return policy;
}

// Intra-op threads per engine: as asked, else one per pinned worker, else the cores shared out.
int EngineThreads(const ServerOptions& options) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  if (options.threads > 0) return options.threads;
  if (!options.worker_cpus.empty()) return 1;
  return std::max(1, cores / options.workers);
}

// A bundle's metadata sharing the bundle's ownership (std::shared_ptr's aliasing constructor).
std::shared_ptr<const BundleMetadata> MetadataOf(const std::shared_ptr<const Bundle>& bundle) {
  return std::shared_ptr<const BundleMetadata>(bundle, &bundle->metadata());
}

// A reload needs the served bundle's classes, in the same order: clients read labels and class
// ids, and the OIP model's output shape, from the bundle served at start-up.
absl::Status SameLabels(const Bundle& served, const Bundle& next) {
  if (next.metadata().labels == served.metadata().labels) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "bundle ", next.source(), " has ", next.metadata().labels.size(), " labels (",
      absl::StrJoin(next.metadata().labels, ", "), "), the served bundle ",
      served.metadata().labels.size(), " (", absl::StrJoin(served.metadata().labels, ", "),
      "): a reload keeps the labels; a model with other classes needs a new deployment"));
}

absl::Status InvalidOptions(const ServerOptions& options) {
  const std::vector<std::string> errors = ValidateServerOptions(options);
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

}  // namespace

absl::StatusOr<int> ResolveSubnet(const Bundle& bundle, int requested) {
  if (requested == -1) return bundle.metadata().subnets.empty() ? -1 : bundle.LargestSubnet().id;
  if (bundle.FindSubnet(requested) != nullptr) return requested;
  std::vector<int> ids;
  for (const SubnetMeta& subnet : bundle.metadata().subnets) ids.push_back(subnet.id);
  return absl::InvalidArgumentError(
      absl::StrCat("sub-net ", requested, " is not in bundle ", bundle.source(),
                   "; valid ids: ", absl::StrJoin(ids, ", "), " (or -1 for the largest)"));
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options,
                                                       const EngineFactory& engines) {
  if (absl::Status invalid = InvalidOptions(options); !invalid.ok()) return invalid;
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(options.bundle_path);
  if (!bundle.ok()) return bundle.status();
  return Create(options, *std::move(bundle), engines);
}

absl::StatusOr<std::unique_ptr<Server>> Server::Create(const ServerOptions& options,
                                                       std::unique_ptr<Bundle> bundle,
                                                       const EngineFactory& engines) {
  if (absl::Status invalid = InvalidOptions(options); !invalid.ok()) return invalid;
  std::unique_ptr<Server> server(new Server());
  if (absl::Status started = server->Start(options, std::move(bundle), engines); !started.ok()) {
    return started;
  }
  return server;
}

absl::Status Server::Start(const ServerOptions& options, std::unique_ptr<Bundle> bundle,
                           const EngineFactory& engines) {
  options_ = options;
  engine_factory_ = &engines;
  drain_timeout_ = options.drain_timeout;
  const int threads = EngineThreads(options);
  // Before engines and profiling: a port in use or an unreadable token file fails start-up first.
  // The tokens first: the status page on the metrics port asks for them.
  if (absl::Status s = LoadCredentials(options); !s.ok()) return s;
  if (absl::Status s = StartMetricsEndpoint(options); !s.ok()) return s;
  absl::MutexLock lock(&reload_mu_);
  absl::StatusOr<LoadedModel> loaded = LoadModel(std::move(bundle));
  if (!loaded.ok()) return loaded.status();
  loaded_ = *std::move(loaded);
  if (absl::Status s = StartDispatcher(options); !s.ok()) return s;
  StartStatusPage(options);
  if (absl::Status s = StartGrpc(options); !s.ok()) return s;

  spdlog::info(
      "serving bundle {} ({} sub-nets), policy {}, late={}, engine {}{} x{} ({} threads each), "
      "max batch {}, on {}:{}{}",
      options.bundle_path, loaded_.bundle->metadata().subnets.size(), loaded_.policy_spec,
      options.late == LateMode::kServe ? "serve" : "drop", loaded_.processor->engine_name(),
      loaded_.isa.empty() ? "" : absl::StrCat(" (", loaded_.isa, ")"), options.workers, threads,
      options.max_batch, options.host, port_,
      absl::StrCat(
          options.worker_cpus.empty()
              ? ""
              : absl::StrCat(", workers pinned to CPU ", absl::StrJoin(options.worker_cpus, ",")),
          options.worker_spin_us == 0
              ? ""
              : absl::StrCat(", idle workers spin ", options.worker_spin_us, " us")));
  if (metrics_port_ >= 0) {
    spdlog::info("metrics on http://{0}/metrics, status page on http://{0}/{1}",
                 HostPort(options.host, metrics_port_),
                 auth_ == nullptr ? "" : " (bearer token required)");
  } else {
    spdlog::info("metrics off (--metrics_port=-1)");
  }
  if (!options.port_file.empty()) {
    if (absl::Status written = WritePortFile(options.port_file, port_, metrics_port_);
        !written.ok()) {
      Shutdown();
      return written;
    }
  }
  return absl::OkStatus();
}

absl::Status Server::StartMetricsEndpoint(const ServerOptions& options) {
  if (options.metrics_port < 0) return absl::OkStatus();
  registry_ = std::make_shared<prometheus::Registry>();
  MetricsEndpointOptions endpoint;
  endpoint.address = HostPort(options.host, options.metrics_port);
  endpoint.registry = registry_;
  endpoint.auth = auth_.get();
  endpoint.assets = StatusPageAssets();
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> started = MetricsEndpoint::Start(endpoint);
  if (!started.ok()) {
    return absl::Status(
        started.status().code(),
        absl::StrCat(started.status().message(),
                     " (--metrics_port=0 picks a free port, -1 turns metrics off)"));
  }
  metrics_endpoint_ = *std::move(started);
  metrics_port_ = metrics_endpoint_->port();
  return absl::OkStatus();
}

void Server::StartStatusPage(const ServerOptions& options) {
  if (metrics_endpoint_ == nullptr) return;
  status_sampler_ = std::make_unique<StatusSampler>([this] { return metrics_->Snapshot(); });
  status_sampler_->Start(RealClock::Get());
  StatusServerInfo info;
  info.version = kTernserveVersion;
  info.engine = loaded_.processor->engine_name();
  info.isa = loaded_.isa.empty() ? "none" : loaded_.isa;
  info.workers = options.workers;
  info.max_batch = options.max_batch;
  info.default_slo_ms = options.default_slo_ms;
  metrics_endpoint_->SetStatusSource([this, info] {
    absl::Time latest_time;
    const std::optional<MetricsSnapshot> latest = status_sampler_->Latest(&latest_time);
    return StatusJson(info, *current_->Get(), status_sampler_->Points(), latest, latest_time);
  });
}

absl::Status Server::LoadCredentials(const ServerOptions& options) {
  if (!options.auth_token_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenAuthenticator>> auth =
        TokenAuthenticator::Load(options.auth_token_file);
    if (!auth.ok()) return auth.status();
    auth_ = *std::move(auth);
  }
  if (options.tls_cert.empty()) {
    credentials_ = grpc::InsecureServerCredentials();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> cert = ReadPemFile("tls_cert", options.tls_cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPemFile("tls_key", options.tls_key);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!options.tls_client_ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("tls_client_ca", options.tls_client_ca);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  credentials_ = grpc::SslServerCredentials(ssl);
  return absl::OkStatus();
}

absl::StatusOr<int> Server::ReloadAuthTokens() {
  if (auth_ == nullptr) {
    return absl::FailedPreconditionError("the server runs without --auth_token_file");
  }
  return auth_->Reload();
}

absl::StatusOr<Server::LoadedModel> Server::LoadModel(std::shared_ptr<const Bundle> bundle) const {
  LoadedModel model;
  if (bundle->metadata().subnets.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("bundle ", bundle->source(), " has no sub-nets"));
  }
  absl::StatusOr<int> subnet_id = ResolveSubnet(*bundle, options_.subnet_id);
  if (!subnet_id.ok()) return subnet_id.status();
  model.subnet_id = *subnet_id;
  model.policy_spec = PolicySpec(options_.policy, model.subnet_id);
  const int threads = EngineThreads(options_);
  absl::StatusOr<std::vector<std::unique_ptr<Engine>>> engines =
      CreateEngines(*bundle, model.subnet_id, threads, &model.isa);
  if (!engines.ok()) return engines.status();
  absl::StatusOr<LatencyProfile> profile =
      LoadOrMeasureProfile(*bundle, *engines, model.isa, threads);
  if (!profile.ok()) return profile.status();
  model.profile = std::make_shared<const LatencyProfile>(*std::move(profile));
  PolicyOptions policy_options;
  policy_options.max_batch = options_.max_batch;
  policy_options.max_queue_delay = absl::Microseconds(options_.max_queue_delay_ms * 1000);
  policy_options.adapt_latency = options_.adapt_latency;
  policy_options.workers = options_.workers;
  absl::StatusOr<std::unique_ptr<Policy>> policy =
      CreatePolicy(model.policy_spec, *model.profile, policy_options);
  if (!policy.ok()) return policy.status();
  model.policy = *std::move(policy);
  // The processor's metadata shares the bundle's ownership: the bundle lives while the engines
  // made from it do, and while any answer names it.
  model.processor = std::make_shared<EngineBatchProcessor>(*std::move(engines), MetadataOf(bundle));
  model.bundle = std::move(bundle);
  return model;
}

absl::StatusOr<int> Server::ReloadModel() {
  absl::MutexLock lock(&reload_mu_);
  const auto start = std::chrono::steady_clock::now();
  // The file may already hold the refused bundle: the one serving is named by its generation.
  const int serving = current_->Get()->generation;
  auto refuse = [this, serving](const absl::Status& status) {
    if (metrics_ != nullptr) metrics_->OnReloadRefused();
    spdlog::warn("reload of {} refused, model generation {} goes on serving: {}",
                 options_.bundle_path, serving, status.ToString());
    return status;
  };
  {
    absl::MutexLock shutdown(&shutdown_mu_);
    if (shut_down_) return refuse(absl::FailedPreconditionError("the server is shutting down"));
  }
  absl::StatusOr<std::unique_ptr<Bundle>> opened = Bundle::Open(options_.bundle_path);
  if (!opened.ok()) return refuse(opened.status());
  if (absl::Status same = SameLabels(*loaded_.bundle, **opened); !same.ok()) return refuse(same);
  absl::StatusOr<LoadedModel> next = LoadModel(*std::move(opened));
  if (!next.ok()) return refuse(next.status());
  if (absl::Status swapped = dispatcher_->SwapModel(next->policy, next->processor); !swapped.ok()) {
    return refuse(swapped);
  }
  const int generation = current_->Get()->generation + 1;
  current_->Set(
      ServedModel{MetadataOf(next->bundle), next->profile, next->policy_spec, generation});
  if (metrics_ != nullptr) metrics_->OnModelLoaded(next->bundle->metadata(), generation);
  spdlog::info(
      "reloaded {} as model generation {} in {:.1f} s: {} sub-nets ({} before), policy {}; "
      "batches already running finish on the old bundle",
      options_.bundle_path, generation,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
      next->bundle->metadata().subnets.size(), loaded_.bundle->metadata().subnets.size(),
      next->policy_spec);
  // The old model's processor and policy now live only in batches still running, if any.
  loaded_ = *std::move(next);
  return generation;
}

absl::StatusOr<std::vector<std::unique_ptr<Engine>>> Server::CreateEngines(const Bundle& bundle,
                                                                           int subnet_id,
                                                                           int threads,
                                                                           std::string* isa) const {
  EngineSpec spec;
  spec.kind = options_.engine;
  spec.threads = threads;
  if (options_.kernel != nullptr) spec.isa = options_.kernel->name;
  const std::vector<float> blank(kImagePixels, 0.0f);
  std::vector<std::unique_ptr<Engine>> engines;
  for (int w = 0; w < options_.workers; ++w) {
    absl::StatusOr<std::unique_ptr<Engine>> engine = engine_factory_->Create(bundle, spec);
    if (!engine.ok()) return engine.status();
    // Warm up (the first LibTorch run is slow) and fail now, not on the first request.
    std::vector<int> warm_up = {subnet_id};
    if (w == 0) {
      for (const SubnetMeta& meta : bundle.metadata().subnets) {
        if (meta.id != subnet_id) warm_up.push_back(meta.id);
      }
    }
    for (int id : warm_up) {
      if (absl::StatusOr<LogitsView> warm = (*engine)->Run(id, blank, 1); !warm.ok()) {
        return absl::Status(warm.status().code(),
                            absl::StrCat("engine warm-up on sub-net ", id, " of ", bundle.source(),
                                         " failed: ", warm.status().message()));
      }
    }
    *isa = (*engine)->isa();
    engines.push_back(*std::move(engine));
  }
  return engines;
}

absl::StatusOr<LatencyProfile> Server::LoadOrMeasureProfile(
    const Bundle& bundle, const std::vector<std::unique_ptr<Engine>>& engines,
    const std::string& isa, int threads) const {
  if (!options_.profile_path.empty()) {
    absl::StatusOr<LatencyProfile> loaded = LoadLatencyProfile(options_.profile_path);
    if (!loaded.ok()) return loaded.status();
    absl::StatusOr<LatencyProfile> matched =
        MatchProfileToBundle(*std::move(loaded), options_.profile_path, bundle);
    if (!matched.ok()) return matched.status();
    spdlog::info("latency profile {} ({} sub-nets, engine {}, overhead {:.0f} us)",
                 options_.profile_path, matched->subnets.size(), matched->engine,
                 matched->overhead_us);
    return matched;
  }
  std::vector<Engine*> engine_ptrs;
  for (const auto& e : engines) engine_ptrs.push_back(e.get());
  ProfilerOptions profiler_options;
  profiler_options.budget = absl::Seconds(options_.profile_budget_s);
  // A slow cell costs its warm-up plus min_iterations runs whatever the budget; keep start-up
  // near the budget.
  profiler_options.min_iterations = 2;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<LatencyProfile> measured =
      MeasureLatencyProfile(bundle, engine_ptrs, isa, threads, profiler_options);
  if (!measured.ok()) {
    return absl::Status(measured.status().code(),
                        absl::StrCat("profiling failed: ", measured.status().message()));
  }
  spdlog::info(
      "no --profile: profiled {} sub-nets x {} batch sizes on this machine in {:.1f} s "
      "(ternserve-profile writes a profile to reuse)",
      measured->subnets.size(), measured->subnets.front().batches.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return measured;
}

absl::Status Server::StartDispatcher(const ServerOptions& options) {
  const BundleMetadata& metadata = loaded_.bundle->metadata();
  current_ = std::make_unique<CurrentModel>(ServedModel{MetadataOf(loaded_.bundle), loaded_.profile,
                                                        loaded_.policy_spec,
                                                        /*generation=*/1});
  if (registry_ != nullptr) {
    metrics_ = std::make_unique<ServerMetrics>(
        *registry_, metadata,
        BuildInfo{kTernserveVersion, loaded_.policy_spec, loaded_.processor->engine_name(),
                  loaded_.isa.empty() ? "none" : loaded_.isa});
  }
  statistics_ = std::make_unique<InferenceStatistics>();
  observers_ = std::make_unique<DispatcherObserverList>(
      std::vector<DispatcherObserver*>{metrics_.get(), statistics_.get()});
  DispatcherOptions dispatcher_options;
  dispatcher_options.workers = options.workers;
  dispatcher_options.max_batch = options.max_batch;
  dispatcher_options.max_queue = options.max_queue;
  dispatcher_options.subnet_id = loaded_.subnet_id;
  dispatcher_options.policy = loaded_.policy;
  dispatcher_options.late = options.late;
  dispatcher_options.observer = observers_.get();
  dispatcher_options.worker_cpus = options.worker_cpus;
  dispatcher_options.idle_spin = absl::Microseconds(options.worker_spin_us);
  if (!options.schedule_log_path.empty()) {
    ScheduleLog settings;
    settings.policy = loaded_.policy_spec;
    settings.workers = options.workers;
    settings.late = options.late == LateMode::kServe ? "serve" : "drop";
    settings.adapt_latency = options.adapt_latency;
    settings.max_batch = options.max_batch;
    settings.max_queue = options.max_queue;
    settings.max_queue_delay_us = static_cast<int64_t>(options.max_queue_delay_ms * 1000);
    recorder_ = std::make_unique<ScheduleRecorder>(settings, absl::Now(), kMaxScheduleLogRequests);
    dispatcher_options.recorder = recorder_.get();
  }
  dispatcher_ =
      std::make_unique<Dispatcher>(dispatcher_options, loaded_.processor, RealClock::Get());
  return dispatcher_->pin_status();
}

absl::Status Server::StartGrpc(const ServerOptions& options) {
  const BundleMetadata& metadata = loaded_.bundle->metadata();
  ValidationLimits limits;
  limits.default_slo_ms = options.default_slo_ms;
  limits.max_slo_ms = options.max_slo_ms;
  limits.slo_reserve_ms = options.slo_reserve_ms;
  limits.num_classes = static_cast<int>(metadata.labels.size());
  submitter_ = std::make_unique<RequestSubmitter>(dispatcher_.get(), RealClock::Get(),
                                                  metrics_.get(), statistics_.get(), auth_.get());
  ClassifierServiceOptions service_options;
  service_options.limits = limits;
  service_options.engine = loaded_.processor->engine_name();
  service_ = std::make_unique<ClassifierService>(service_options, current_.get(), submitter_.get());
  OipServiceOptions oip_options;
  oip_options.limits = limits;
  oip_options.model.name = options.model_name.empty() ? metadata.model_name : options.model_name;
  oip_options.model.labels = metadata.labels;
  oip_options.model.max_images = options.max_images_per_request;
  oip_options.model.default_scale = options.input_scale;
  oip_options.workers = options.workers;
  oip_options.max_batch = options.max_batch;
  oip_service_ = std::make_unique<OipService>(oip_options, current_.get(), submitter_.get(),
                                              statistics_.get());

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection cannot check tokens; with tokens required it is not served.
  if (auth_ == nullptr) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  const std::string address = HostPort(options.host, options.port);
  builder.AddListeningPort(address, credentials_, &port_);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  // gRPC's transport buffers what clients send ahead of the services' reads, and BDP probing grows
  // its HTTP/2 windows while memory lasts: measured, bursts of 5x capacity on streams grew the
  // server to 513 MiB, the backlog held here instead of in the client. Without BDP probing the
  // windows stay at their initial size, so flow control holds the client back. (A
  // grpc::ResourceQuota of 128 MiB instead halved the peak but reset streams under pressure.)
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  if (options.max_connection_age > absl::ZeroDuration()) {
    // gRPC adds ±10% jitter, so that clients' connections do not all reconnect at once. No grace
    // limit: a stream still open is not cut (the drain on SIGTERM does that).
    builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                               static_cast<int>(absl::ToInt64Milliseconds(
                                   std::min(options.max_connection_age, absl::Hours(24 * 7)))));
  }
  builder.RegisterService(service_.get());
  builder.RegisterService(oip_service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (grpc_server_ == nullptr || port_ == 0) {
    dispatcher_->Drain();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", address,
        options.tls_cert.empty() ? " (address in use or not available?)"
                                 : " (address in use, or --tls_cert/--tls_key not a valid pair?)"));
  }
  grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  oip_service_->SetReady(true);
  spdlog::info("OIP model '{}' version {} (max {} images per request, FP32 input_scale={}); {}{}",
               oip_options.model.name, kOipModelVersion, options.max_images_per_request,
               std::string(InputScaleName(options.input_scale)),
               options.tls_cert.empty() ? "plaintext"
                                        : (options.tls_client_ca.empty() ? "TLS" : "mutual TLS"),
               auth_ == nullptr ? ""
                                : absl::StrCat(", bearer tokens from ", auth_->path(),
                                               " required (reflection off)"));
  return absl::OkStatus();
}

void Server::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  const absl::Time deadline = absl::Now() + drain_timeout_;
  if (grpc_server_ != nullptr) grpc_server_->GetHealthCheckService()->SetServingStatus(false);
  if (oip_service_ != nullptr) oip_service_->SetReady(false);
  // From now on every new RPC is refused UNAVAILABLE, and the draining dispatcher refuses new
  // messages on open streams the same way. Drain returns when every accepted request has been
  // answered, or at the deadline, answering what is still queued UNAVAILABLE. Only then stop
  // gRPC: its deadline cancels whatever is still open (a stream whose client never half-closes);
  // no accepted request is left in those. gRPC gets a moment past an expired deadline to send the
  // last answers.
  if (submitter_ != nullptr) submitter_->StopAdmitting();
  if (dispatcher_ != nullptr) dispatcher_->Drain(deadline);
  if (recorder_ != nullptr) {
    const ScheduleLog log = recorder_->Snapshot();
    if (absl::Status saved = SaveScheduleLog(log, options_.schedule_log_path); saved.ok()) {
      spdlog::info("schedule log: {} requests, {} batches written to {}{}", log.requests.size(),
                   log.batches.size(), options_.schedule_log_path,
                   log.truncated ? " (truncated)" : "");
    } else {
      spdlog::error("schedule log: {}", std::string(saved.message()));
    }
  }
  if (grpc_server_ != nullptr) {
    grpc_server_->Shutdown(absl::ToChronoTime(std::max(deadline, absl::Now() + kAnswerFlushTime)));
    grpc_server_->Wait();
  }
}

Server::~Server() {
  Shutdown();
  // The status page reads the sampler and the current model: no request may be in it when they go.
  metrics_endpoint_.reset();
}

}  // namespace ternserve
