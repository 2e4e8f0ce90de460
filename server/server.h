// Server: a running Ternserve instance. Wires a Bundle, one engine per worker, the Dispatcher, the
// Prometheus metrics and the gRPC server (ternserve.v1.Classifier, the Open Inference Protocol's
// inference.GRPCInferenceService, grpc.health.v1.Health, and server reflection unless tokens are
// required) together, over TLS and with token authentication when asked.
//
// Ownership: the Server owns everything it creates, the bundle included, and the Prometheus
// registry its metrics live in (server/metrics.h), served over HTTP at /metrics, beside the status
// page and its once-a-second samples of the same metrics, by a MetricsEndpoint
// (server/metrics_endpoint.h). Lifecycle: Create() starts serving and marks health SERVING;
// ReloadModel() (SIGHUP) swaps in the bundle now at --bundle, with its own engines, profile and
// policy, between batches; Shutdown() (or the destructor) turns NOT_SERVING, stops taking RPCs,
// answers everything accepted and stops the workers. Thread-safe: Shutdown may be called from any
// thread, once or more; ReloadModel from any thread but one at a time is run (the others wait).
#ifndef TERNSERVE_SERVER_SERVER_H_
#define TERNSERVE_SERVER_SERVER_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "models/bundle.h"
#include "scheduler/dispatcher.h"
#include "scheduler/latency_profile.h"
#include "server/classifier_service.h"
#include "server/engine_batch_processor.h"
#include "server/engine_factory.h"
#include "server/inference_statistics.h"
#include "server/metrics.h"
#include "server/metrics_endpoint.h"
#include "server/oip_service.h"
#include "server/request_submitter.h"
#include "server/served_model.h"
#include "server/server_options.h"
#include "server/status_sampler.h"
#include "server/token_auth.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace ternserve {

// The sub-net --subnet names: `requested` if the bundle has it, the largest for -1, else
// INVALID_ARGUMENT listing the bundle's ids.
absl::StatusOr<int> ResolveSubnet(const Bundle& bundle, int requested);

class Server {
 public:
  // Opens options.bundle_path. `engines` makes the workers' engines (the binary's factory) and
  // must outlive the server.
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      const ServerOptions& options, const EngineFactory& engines = TernaryEngineFactory());
  // Serves an already opened bundle (options.bundle_path is then only used in logs).
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      const ServerOptions& options, std::unique_ptr<Bundle> bundle,
      const EngineFactory& engines = TernaryEngineFactory());
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port actually listened on.
  int port() const { return port_; }
  // The port /metrics (and the status page) is served on; -1 if metrics are off.
  int metrics_port() const { return metrics_port_; }
  // The model served now: its bundle's metadata, its latency profile, its generation.
  std::shared_ptr<const ServedModel> model() const { return current_->Get(); }

  // Turns NOT_SERVING and refuses every new RPC (and every new message on an open stream)
  // UNAVAILABLE; answers every accepted request, on both APIs, within options.drain_timeout:
  // requests still queued when it passes are answered UNAVAILABLE without running. Then shuts
  // gRPC down; streams still open at the deadline are cancelled. Returns within drain_timeout
  // (plus a running batch, and kAnswerFlushTime to send the last answers). Idempotent.
  void Shutdown();
  // How long past an expired drain deadline gRPC may take to send the last answers.
  static constexpr absl::Duration kAnswerFlushTime = absl::Milliseconds(200);
  // --schedule_log keeps at most this many requests (16 bytes each) in memory.
  static constexpr int64_t kMaxScheduleLogRequests = 20000000;

  // Re-reads --auth_token_file (on SIGHUP): the number of tokens now in use, or why the old ones
  // are kept. FAILED_PRECONDITION when the server runs without tokens.
  absl::StatusOr<int> ReloadAuthTokens();

  // Re-reads the bundle at --bundle (on SIGHUP) and serves it: opens and checks it in full (its
  // checksum and structure, its labels the same as the served bundle's, the --subnet still in
  // it), makes its engines (each warmed up; every sub-net run once), loads --profile again and
  // matches it to the new bundle (or, without --profile, measures one, while the old bundle
  // serves), and makes the policy over it. Only then does it swap: every batch decided from then
  // on runs on the new bundle; batches already running finish on the old one, whose answers name
  // the old bundle's sub-nets, and its engines are freed after the last of them. Returns the new
  // model's generation (2 after the first reload). On any failure nothing changes: the old bundle
  // goes on serving and the status names the file and the fault (FAILED_PRECONDITION once
  // shutdown has begun). Counted in ternserve_model_reloads_total{result}.
  absl::StatusOr<int> ReloadModel();

 private:
  // What one bundle needs to serve, made at start-up and by each reload, then swapped in whole.
  struct LoadedModel {
    std::shared_ptr<const Bundle> bundle;
    std::shared_ptr<const LatencyProfile> profile;
    std::shared_ptr<Policy> policy;
    std::shared_ptr<EngineBatchProcessor> processor;
    int subnet_id = -1;
    std::string policy_spec;
    std::string isa;  // the kernel variant the engines run; empty for other engines
  };

  Server() = default;
  // The steps of start-up, in order. Each fails start-up with a message naming what failed.
  absl::Status Start(const ServerOptions& options, std::unique_ptr<Bundle> bundle,
                     const EngineFactory& engines);
  // Reads the token file and the TLS files first: an unreadable one fails start-up before
  // minutes of profiling.
  absl::Status LoadCredentials(const ServerOptions& options);
  // Binds the metrics port (after the tokens, which its status page asks for), also before
  // profiling: a port in use fails start-up at once.
  absl::Status StartMetricsEndpoint(const ServerOptions& options);
  // Everything `bundle` needs to serve: its engines, its profile, its policy.
  absl::StatusOr<LoadedModel> LoadModel(std::shared_ptr<const Bundle> bundle) const;
  // One engine per worker for `bundle`, each warmed up on one batch of `subnet_id`; the first
  // also runs every other sub-net once, so a sub-net the engine cannot run fails here.
  absl::StatusOr<std::vector<std::unique_ptr<Engine>>> CreateEngines(const Bundle& bundle,
                                                                     int subnet_id, int threads,
                                                                     std::string* isa) const;
  // Loads options.profile_path (matched to `bundle`) or measures one on `engines` now.
  absl::StatusOr<LatencyProfile> LoadOrMeasureProfile(
      const Bundle& bundle, const std::vector<std::unique_ptr<Engine>>& engines,
      const std::string& isa, int threads) const;
  // The metrics and the dispatcher over the loaded model.
  absl::Status StartDispatcher(const ServerOptions& options)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // The status page's sampler over the metrics, and its document on the metrics endpoint.
  void StartStatusPage(const ServerOptions& options) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  // The gRPC services, listening.
  absl::Status StartGrpc(const ServerOptions& options) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);

  // Constant after Start, but for what ReloadModel replaces (loaded_, current_'s model).
  // Destroyed in reverse order: gRPC server, services, submitter, dispatcher, the current model,
  // observers, statistics, the status sampler, metrics, the metrics endpoint, registry,
  // credentials; but the destructor stops the endpoint first, since its status page reads the
  // sampler and the current model.
  ServerOptions options_;
  const EngineFactory* engine_factory_ = nullptr;
  std::unique_ptr<TokenAuthenticator> auth_;  // null without --auth_token_file
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  // Null when metrics are off. The endpoint shares the registry; the metrics live in it.
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<StatusSampler> status_sampler_;  // samples metrics_ once a second
  std::unique_ptr<InferenceStatistics> statistics_;
  std::unique_ptr<DispatcherObserverList> observers_;
  int port_ = 0;
  int metrics_port_ = -1;
  // Serializes reloads. loaded_ is written by Start and, under reload_mu_, by ReloadModel; read
  // only by them. The dispatcher shares the processor and policy, current_ the bundle's metadata
  // and profile; a batch still running on a swapped-out model keeps that model's processor alive.
  absl::Mutex reload_mu_;
  LoadedModel loaded_ ABSL_GUARDED_BY(reload_mu_);
  std::unique_ptr<CurrentModel> current_;
  std::unique_ptr<ScheduleRecorder> recorder_;  // null without --schedule_log
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<RequestSubmitter> submitter_;
  std::unique_ptr<ClassifierService> service_;
  std::unique_ptr<OipService> oip_service_;
  std::unique_ptr<grpc::Server> grpc_server_;

  absl::Duration drain_timeout_ = absl::Seconds(30);  // options.drain_timeout
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_SERVER_H_
