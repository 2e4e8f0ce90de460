// ServerOptions: everything a Server is started with, as typed values, and the one validator of
// them. `ternserve`'s flags map one to one onto these fields (server/server_main.cc), so the
// fields' comments, the flags' help and the README's flag table describe the same thing (a test
// holds the last two together).
//
// A plain value; thread-compatible.
#ifndef TERNSERVE_SERVER_SERVER_OPTIONS_H_
#define TERNSERVE_SERVER_SERVER_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "models/kernels/conv_kernels.h"
#include "scheduler/dispatch_step.h"
#include "server/engine_factory.h"
#include "server/oip_request.h"

namespace ternserve {

struct ServerOptions {
  // The model bundle to serve (--bundle).
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
  // Scheduling policy spec (scheduler/policy.h): "slackfit", "infaas", "fixed[:<id>]",
  // "clipper[:<id>]"; fixed and clipper without an id run `subnet_id`.
  std::string policy = "slackfit";
  // Latency profile (ternserve-profile's output) of this bundle. Empty: the server profiles
  // itself at start-up within profile_budget_s (more budget: steadier p99s, slower start).
  std::string profile_path;
  double profile_budget_s = 25;
  // Requests no sub-net can serve in time: answered DEADLINE_EXCEEDED at once (kDrop) or run on
  // the fastest sub-net anyway (kServe); both count as misses.
  LateMode late = LateMode::kDrop;
  // fixed / clipper without an id: this sub-net; -1 = the bundle's largest.
  int subnet_id = -1;
  // The engine every worker runs; kTorch needs a binary that links LibTorch (ternserve-torch),
  // kCuda one built with CUDA (make build-cuda) and a GPU (one engine and stream per worker).
  EngineKind engine = EngineKind::kTernary;
  // The ternary kernel variant (an entry of kernels::TernaryConvKernels()); null: the fastest
  // this CPU has. A variant the CPU lacks fails start-up.
  const kernels::TernaryConvKernel* kernel = nullptr;
  // Dispatcher workers, each with its own engine. More workers serve more batches at once.
  int workers = 1;
  // Intra-op threads per engine; 0 = hardware threads / workers (at least 1), or 1 with
  // worker_cpus.
  int threads = 0;
  // Empty: no pinning. Else one CPU per worker, each worker's thread pinned to its CPU
  // (util/cpu_affinity.h); needs threads <= 1.
  std::vector<int> worker_cpus;
  // How long an idle worker polls the queue before sleeping (DispatcherOptions::idle_spin): saves
  // a thread wake-up per request at the price of a busy CPU.
  int worker_spin_us = 0;
  // Largest batch a worker forms. Larger batches raise throughput and delay.
  int max_batch = 32;
  // Queued requests beyond which new ones get RESOURCE_EXHAUSTED at once.
  int max_queue = 1024;
  // --policy=fixed only: how long the head of the queue may wait for a batch to fill (Triton's
  // max_queue_delay_microseconds). 0: a free worker takes whatever is queued.
  double max_queue_delay_ms = 0;
  // On SIGTERM/SIGINT (Server::Shutdown): how long queued work may still run and open streams
  // may still be written to. What is still queued then is answered UNAVAILABLE, unrun; open
  // streams are cancelled.
  absl::Duration drain_timeout = absl::Seconds(30);
  // After this long a client connection is sent GOAWAY (its calls finish, new ones go to a new
  // connection): clients of a dns:/// target then re-resolve it and reach replicas added since.
  // Zero: never.
  absl::Duration max_connection_age = absl::ZeroDuration();
  // SLO of a request that sends latency_slo_ms = 0, and the largest one may ask for.
  double default_slo_ms = 100;
  double max_slo_ms = 60000;
  // Part of every SLO kept for the network and the client (ValidationLimits::slo_reserve_ms).
  double slo_reserve_ms = 0;
  // The policy corrects its latency profile by the compute times it measures
  // (scheduler/latency_model.h).
  bool adapt_latency = true;
  // Where to write the schedule log (scheduler/schedule_log.h) at exit; empty: none.
  std::string schedule_log_path;
  // Largest gRPC message accepted (--max_message_bytes); gRPC answers a larger one
  // RESOURCE_EXHAUSTED.
  int max_receive_message_bytes = 4 << 20;
  // The Open Inference Protocol's model (docs/oip.md): its name (empty: the bundle's), the most
  // images one ModelInfer may carry (its max_batch_size), and how FP32 pixels are scaled unless a
  // request says.
  std::string model_name;
  int max_images_per_request = 64;
  InputScale input_scale = InputScale::kUnit;
  // TLS on the gRPC port: a PEM certificate chain and its key (both or neither); with
  // tls_client_ca too, clients must present a certificate it signed (mutual TLS).
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Every RPC but health must carry "authorization: Bearer <token>" for a token of this file
  // (server/token_auth.h); re-read on SIGHUP. Empty: no authentication.
  std::string auth_token_file;
};

// Every problem with `options`, each as one message naming its flag ("--workers=0 is not in
// [1, 64]"); empty when the options are valid. What it cannot know without the bundle (whether
// --subnet exists) or the CPU (whether it has the kernel) is checked at start-up.
std::vector<std::string> ValidateServerOptions(const ServerOptions& options);

// The --isa names: every variant of the kernel table.
std::vector<std::string> KernelNames();

// The engine flags ternserve, ternserve-torch and ternserve-profile share: `engine` (--engine)
// and `isa` (--isa, empty: the fastest) parsed into options->engine and options->kernel, given
// what `factory` can make. Each problem is appended to `errors`, naming its flag.
void ParseEngineFlags(const std::string& engine, const std::string& isa,
                      const EngineFactory& factory, ServerOptions* options,
                      std::vector<std::string>* errors);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_SERVER_OPTIONS_H_
