// Server wiring: bundle -> engines -> dispatcher -> gRPC. See server.h.
#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <prometheus/exposer.h>
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
  bundle_ = std::move(bundle);
  drain_timeout_ = options.drain_timeout;
  if (bundle_->metadata().subnets.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("bundle ", bundle_->source(), " has no sub-nets"));
  }
  absl::StatusOr<int> subnet_id = ResolveSubnet(*bundle_, options.subnet_id);
  if (!subnet_id.ok()) return subnet_id.status();
  subnet_id_ = *subnet_id;
  policy_spec_ = PolicySpec(options.policy, subnet_id_);
  const int threads = EngineThreads(options);

  if (absl::Status s = StartMetricsEndpoint(options); !s.ok()) return s;
  if (absl::Status s = LoadCredentials(options); !s.ok()) return s;
  absl::StatusOr<std::vector<std::unique_ptr<Engine>>> created =
      CreateEngines(options, engines, threads);
  if (!created.ok()) return created.status();
  if (absl::Status s = LoadOrMeasureProfile(options, *created, threads); !s.ok()) return s;
  if (absl::Status s = StartDispatcher(options, *std::move(created)); !s.ok()) return s;
  if (absl::Status s = StartGrpc(options); !s.ok()) return s;

  spdlog::info(
      "serving bundle {} ({} sub-nets), policy {}, late={}, engine {}{} x{} ({} threads each), "
      "max batch {}, on {}:{}{}",
      options.bundle_path, bundle_->metadata().subnets.size(), policy_spec_,
      options.late == LateMode::kServe ? "serve" : "drop", processor_->engine_name(),
      isa_.empty() ? "" : absl::StrCat(" (", isa_, ")"), options.workers, threads,
      options.max_batch, options.host, port_,
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
      Shutdown();
      return written;
    }
  }
  return absl::OkStatus();
}

absl::Status Server::StartMetricsEndpoint(const ServerOptions& options) {
  if (options.metrics_port < 0) return absl::OkStatus();
  registry_ = std::make_shared<prometheus::Registry>();
  const std::string address = HostPort(options.host, options.metrics_port);
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, /*num_threads=*/1);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what(),
                     " (--metrics_port=0 picks a free port, -1 turns metrics off)"));
  }
  exposer_->RegisterCollectable(registry_);
  const std::vector<int> ports = exposer_->GetListeningPorts();
  if (ports.empty()) return absl::UnavailableError("the metrics exposer listens on no port");
  metrics_port_ = ports.front();
  return absl::OkStatus();
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

absl::StatusOr<std::vector<std::unique_ptr<Engine>>> Server::CreateEngines(
    const ServerOptions& options, const EngineFactory& factory, int threads) {
  EngineSpec spec;
  spec.kind = options.engine;
  spec.threads = threads;
  if (options.kernel != nullptr) spec.isa = options.kernel->name;
  std::vector<std::unique_ptr<Engine>> engines;
  for (int w = 0; w < options.workers; ++w) {
    absl::StatusOr<std::unique_ptr<Engine>> engine = factory.Create(*bundle_, spec);
    if (!engine.ok()) return engine.status();
    // Warm up (the first LibTorch run is slow) and fail at start-up, not on the first request.
    const std::vector<float> blank(kImagePixels, 0.0f);
    if (absl::StatusOr<LogitsView> warm = (*engine)->Run(subnet_id_, blank, 1); !warm.ok()) {
      return absl::Status(warm.status().code(),
                          absl::StrCat("engine warm-up failed: ", warm.status().message()));
    }
    isa_ = (*engine)->isa();
    engines.push_back(*std::move(engine));
  }
  return engines;
}

absl::Status Server::LoadOrMeasureProfile(const ServerOptions& options,
                                          const std::vector<std::unique_ptr<Engine>>& engines,
                                          int threads) {
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
    return absl::OkStatus();
  }
  std::vector<Engine*> engine_ptrs;
  for (const auto& e : engines) engine_ptrs.push_back(e.get());
  ProfilerOptions profiler_options;
  profiler_options.budget = absl::Seconds(options.profile_budget_s);
  // A slow cell costs its warm-up plus min_iterations runs whatever the budget; keep start-up
  // near the budget.
  profiler_options.min_iterations = 2;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<LatencyProfile> measured =
      MeasureLatencyProfile(*bundle_, engine_ptrs, isa_, threads, profiler_options);
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
  return absl::OkStatus();
}

absl::Status Server::StartDispatcher(const ServerOptions& options,
                                     std::vector<std::unique_ptr<Engine>> engines) {
  PolicyOptions policy_options;
  policy_options.max_batch = options.max_batch;
  policy_options.max_queue_delay = absl::Microseconds(options.max_queue_delay_ms * 1000);
  absl::StatusOr<std::unique_ptr<Policy>> policy =
      CreatePolicy(policy_spec_, profile_, policy_options);
  if (!policy.ok()) return policy.status();
  const BundleMetadata& metadata = bundle_->metadata();
  processor_ = std::make_unique<EngineBatchProcessor>(std::move(engines),
                                                      static_cast<int>(metadata.labels.size()));
  if (registry_ != nullptr) {
    metrics_ = std::make_unique<ServerMetrics>(
        *registry_, metadata,
        BuildInfo{kTernserveVersion, policy_spec_, processor_->engine_name(),
                  isa_.empty() ? "none" : isa_});
  }
  statistics_ = std::make_unique<InferenceStatistics>();
  observers_ = std::make_unique<DispatcherObserverList>(
      std::vector<DispatcherObserver*>{metrics_.get(), statistics_.get()});
  DispatcherOptions dispatcher_options;
  dispatcher_options.workers = options.workers;
  dispatcher_options.max_batch = options.max_batch;
  dispatcher_options.max_queue = options.max_queue;
  dispatcher_options.subnet_id = subnet_id_;
  dispatcher_options.policy = std::shared_ptr<Policy>(*std::move(policy));
  dispatcher_options.late = options.late;
  dispatcher_options.observer = observers_.get();
  dispatcher_options.worker_cpus = options.worker_cpus;
  dispatcher_options.idle_spin = absl::Microseconds(options.worker_spin_us);
  dispatcher_ =
      std::make_unique<Dispatcher>(dispatcher_options, processor_.get(), RealClock::Get());
  return dispatcher_->pin_status();
}

absl::Status Server::StartGrpc(const ServerOptions& options) {
  const BundleMetadata& metadata = bundle_->metadata();
  ValidationLimits limits;
  limits.default_slo_ms = options.default_slo_ms;
  limits.max_slo_ms = options.max_slo_ms;
  limits.slo_reserve_ms = options.slo_reserve_ms;
  limits.num_classes = static_cast<int>(metadata.labels.size());
  submitter_ = std::make_unique<RequestSubmitter>(dispatcher_.get(), RealClock::Get(),
                                                  metrics_.get(), statistics_.get(), auth_.get());
  ClassifierServiceOptions service_options;
  service_options.limits = limits;
  service_options.policy = policy_spec_;
  service_options.latency_profile = &profile_;
  service_options.engine = processor_->engine_name();
  service_ = std::make_unique<ClassifierService>(service_options, &metadata, submitter_.get());
  OipServiceOptions oip_options;
  oip_options.limits = limits;
  oip_options.model.name = options.model_name.empty() ? metadata.model_name : options.model_name;
  oip_options.model.labels = metadata.labels;
  oip_options.model.max_images = options.max_images_per_request;
  oip_options.model.default_scale = options.input_scale;
  oip_options.workers = options.workers;
  oip_options.max_batch = options.max_batch;
  oip_service_ =
      std::make_unique<OipService>(oip_options, &metadata, submitter_.get(), statistics_.get());

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
  if (grpc_server_ != nullptr) {
    grpc_server_->Shutdown(absl::ToChronoTime(std::max(deadline, absl::Now() + kAnswerFlushTime)));
    grpc_server_->Wait();
  }
}

Server::~Server() { Shutdown(); }

}  // namespace ternserve
