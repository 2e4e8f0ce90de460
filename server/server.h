// Server: a running Ternserve instance. Wires a Bundle, one engine per worker, the Dispatcher and
// the gRPC server (ternserve.v1.Classifier, grpc.health.v1.Health, server reflection) together.
//
// Ownership: the Server owns everything it creates, the bundle included, and the Prometheus
// registry its metrics live in (server/metrics.h), served over HTTP at /metrics. Lifecycle:
// Create() starts serving and marks health SERVING; Shutdown() (or the destructor) turns
// NOT_SERVING, stops taking RPCs, answers everything accepted and stops the workers. Thread-safe:
// Shutdown may be called from any thread, once or more.
#ifndef TERNSERVE_SERVER_SERVER_H_
#define TERNSERVE_SERVER_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "models/bundle.h"
#include "scheduler/clock.h"
#include "scheduler/dispatcher.h"
#include "scheduler/latency_profile.h"
#include "server/classifier_service.h"
#include "server/engine_batch_processor.h"
#include "server/metrics.h"
#include "server/metrics_endpoint.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace ternserve {

// Engines --engine accepts.
const std::vector<std::string>& ValidEngineNames();

struct ServerOptions {
  std::string bundle_path = "models/ternserve.tsn";
  // Address to listen on. Port 0 picks a free port (see Server::port()).
  std::string host = "127.0.0.1";
  int port = 8001;
  // If non-empty, the chosen port is written here (atomically) once the server listens; the
  // metrics port, when metrics are served, is the second line.
  std::string port_file;
  // Prometheus metrics over HTTP at http://host:metrics_port/metrics. 0 picks a free port (see
  // Server::metrics_port()); -1 serves none (and records none).
  int metrics_port = 8002;
  // Scheduling policy spec (scheduler/policy.h): "slackfit", "fixed[:<id>]", "infaas",
  // "clipper[:<id>]".
  std::string policy = "slackfit";
  // Latency profile (ternserve-profile's output). Empty: the server profiles itself at start-up
  // within profile_budget_s.
  std::string profile_path;
  double profile_budget_s = 25;
  // Requests no sub-net can serve in time: "drop" (DEADLINE_EXCEEDED at once) or "serve" (run on
  // the fastest sub-net anyway); both count as misses.
  std::string late = "drop";
  // fixed / clipper without an id: this sub-net; -1 = the bundle's largest.
  int subnet_id = -1;
  // "ternary" (the integer kernels, the default) or "torch" (LibTorch fp32).
  std::string engine = "ternary";
  // Ternary kernel variant: "scalar", "avx2", "avx512vnni"; empty = the fastest this CPU has.
  std::string isa;
  // Dispatcher workers, each with its own engine. More workers serve more batches at once.
  int workers = 1;
  // Intra-op threads per engine; 0 = hardware threads / workers (at least 1), or 1 with
  // worker_cpus.
  int threads = 0;
  // Empty: no pinning. Else one CPU per worker, each worker's thread pinned to its CPU
  // (scheduler/cpu_affinity.h); needs threads <= 1.
  std::vector<int> worker_cpus;
  // How long an idle worker polls the queue before sleeping (DispatcherOptions::idle_spin).
  int worker_spin_us = 0;
  int max_batch = 32;
  int max_queue = 1024;
  double default_slo_ms = 100;
  double max_slo_ms = 60000;
  // Part of every SLO kept for the network and the client (ValidationLimits::slo_reserve_ms).
  double slo_reserve_ms = 0;
  // Largest gRPC message accepted.
  int max_receive_message_bytes = 4 << 20;
};

// The sub-net --subnet names: `requested` if the bundle has it, the largest for -1, else
// INVALID_ARGUMENT listing the bundle's ids.
absl::StatusOr<int> ResolveSubnet(const Bundle& bundle, int requested);

class Server {
 public:
  // Opens options.bundle_path.
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options);
  // Serves an already opened bundle (options.bundle_path is then only used in logs).
  static absl::StatusOr<std::unique_ptr<Server>> Create(const ServerOptions& options,
                                                        std::unique_ptr<Bundle> bundle);
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The port actually listened on.
  int port() const { return port_; }
  // The port /metrics is served on; -1 if metrics are off.
  int metrics_port() const { return metrics_port_; }
  // The latency profile the policy uses (loaded or measured at start-up).
  const LatencyProfile& profile() const { return profile_; }
  int subnet_id() const { return subnet_id_; }
  const Bundle& bundle() const { return *bundle_; }

  // Turns NOT_SERVING; drains the dispatcher (new requests are refused UNAVAILABLE at once, every
  // accepted one is answered, however long that takes); then shuts gRPC down, giving open RPCs
  // (streams still being written to) up to `grace` before they are cancelled. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

 private:
  Server() = default;
  absl::Status Start(const ServerOptions& options, std::unique_ptr<Bundle> bundle);

  // Constant after Start. Destroyed in reverse order: gRPC server, service, dispatcher, processor,
  // metrics, metrics endpoint, registry, bundle.
  std::unique_ptr<Bundle> bundle_;
  // Null when metrics are off. The endpoint shares the registry; the metrics live in it.
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  std::unique_ptr<ServerMetrics> metrics_;
  LatencyProfile profile_;
  int subnet_id_ = -1;
  int port_ = 0;
  int metrics_port_ = -1;
  std::unique_ptr<EngineBatchProcessor> processor_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<ClassifierService> service_;
  std::unique_ptr<grpc::Server> grpc_server_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_SERVER_H_
