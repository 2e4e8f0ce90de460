// ternserve's main, shared with ternserve-torch: its flags map onto ServerOptions, which one
// validator checks; it starts a Server with the binary's engine factory and waits for
// SIGTERM/SIGINT; then it turns NOT_SERVING, stops taking RPCs, answers everything accepted, and
// exits 0. See server_main.h.
#include "server/server_main.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "models/bundle.h"
#include "server/server.h"
#include "server/server_options.h"
#include "util/cpu_affinity.h"
#include "util/flag_check.h"
#include "util/version.h"

ABSL_FLAG(std::string, bundle, "models/ternserve.tsn", "Model bundle (.tsn) to serve.");
ABSL_FLAG(std::string, host, "127.0.0.1",
          "Address to listen on (127.0.0.1 for local only, 0.0.0.0 or :: for all interfaces).");
ABSL_FLAG(int, port, 8001, "gRPC port. 0 picks a free port; see --port_file.");
ABSL_FLAG(std::string, port_file, "",
          "If set, the port actually listened on is written to this file (atomically) once "
          "serving; the metrics port, unless --metrics_port=-1, is its second line.");
ABSL_FLAG(int, metrics_port, 8002,
          "Prometheus metrics port (HTTP, path /metrics, on --host), and the status page (/, "
          "/status.json). 0 picks a free port; -1 serves neither.");
ABSL_FLAG(std::string, policy, "slackfit",
          "Scheduling policy: slackfit (per batch, the most accurate sub-net and largest batch "
          "that fit the most urgent request's slack), infaas (most accurate sub-net that fits at "
          "the queue's batch), clipper[:<subnet>] (one sub-net, AIMD batch size), fixed[:<subnet>] "
          "(one sub-net, dynamic batching up to --max_batch, like Triton).");
ABSL_FLAG(std::string, profile, "",
          "Latency profile JSON from ternserve-profile (same bundle, engine and machine). Empty: "
          "profile at start-up within --profile_budget_s.");
ABSL_FLAG(double, profile_budget_s, 25,
          "Time budget of the start-up profiling when --profile is not given.");
ABSL_FLAG(std::string, late, "drop",
          "Requests no sub-net can serve before their deadline: drop (answer DEADLINE_EXCEEDED at "
          "once) or serve (run them on the fastest sub-net anyway). Both count as misses.");
ABSL_FLAG(int, subnet, -1,
          "Sub-net id of --policy=fixed or clipper without an id. -1 = the bundle's largest.");
ABSL_FLAG(std::string, engine, "ternary",
          "Inference engine: ternary (the integer ternary kernels), torch (LibTorch fp32, the "
          "reference; only in ternserve-torch, which links LibTorch) or cuda (the ternary CUDA "
          "kernels on GPU 0, one CUDA stream per worker; only in a CUDA build: make build-cuda, "
          "see docs/cuda.md).");
ABSL_FLAG(std::string, isa, "",
          "Ternary kernel variant: scalar, avx2 or avx512vnni. Empty = the fastest this CPU "
          "supports; a variant the CPU lacks is a start-up error.");
ABSL_FLAG(int, workers, 1,
          "Worker threads, each with its own engine instance, each running one batch at a time.");
ABSL_FLAG(int, threads, 0,
          "Intra-op threads per engine. 0 = hardware threads / workers (1 with --worker_cpus).");
ABSL_FLAG(std::string, worker_cpus, "",
          "Pin each worker to a CPU of its own: a comma list, one CPU per worker (e.g. 1, or 1,3). "
          "Keep everything else off those CPUs (e.g. taskset -c 0 ternserve --worker_cpus=1) so "
          "the engines compute as fast as the latency profile measured. Needs --threads=1 (or 0). "
          "Empty: no pinning.");
ABSL_FLAG(int, worker_spin_us, 0,
          "How long an idle worker keeps polling the queue before it sleeps, in microseconds. A "
          "request arriving meanwhile starts without a thread wake-up (tens to hundreds of us on "
          "a VM) at the price of a busy CPU: use it with --worker_cpus. 0 = sleep at once.");
ABSL_FLAG(
    int, max_batch, 32,
    "Largest batch a worker forms from the queue. Larger batches raise throughput and delay.");
ABSL_FLAG(int, max_queue, 1024,
          "Requests that may wait in the queue; beyond it requests fail with RESOURCE_EXHAUSTED.");
ABSL_FLAG(double, max_queue_delay_ms, 0,
          "--policy=fixed only: how long the head of the queue may wait for a batch of "
          "--max_batch to fill, in ms (Triton's max_queue_delay_microseconds). 0 = a free worker "
          "takes whatever is queued.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(30),
          "On SIGTERM/SIGINT: how long queued requests may still run and open streams may still "
          "be answered (e.g. 30s, 500ms). Requests still queued then are answered UNAVAILABLE "
          "without running; streams still open are cancelled; the server exits 0.");
ABSL_FLAG(absl::Duration, max_connection_age, absl::ZeroDuration(),
          "Close every client connection after this long (gRPC's GOAWAY; calls on it finish), so "
          "that clients of a dns:/// target re-resolve it and find replicas added since, e.g. "
          "5m on Kubernetes. 0 = connections live as long as the client keeps them.");
ABSL_FLAG(double, default_slo_ms, 100,
          "Latency SLO (queue + compute) for requests that set latency_slo_ms = 0, in ms.");
ABSL_FLAG(bool, adapt_latency, true,
          "Correct the latency profile online: the policy compares every batch's compute time "
          "with the profile's and plans with every latency times the ratio it measures (median "
          "and tail of the last 16 batches, at least 1), so that it keeps SLOs when the machine "
          "turns slower than when it was profiled (CPU steal, a noisy neighbour). Exported as "
          "ternserve_latency_model_ratio. false: plan with the profile as measured.");
ABSL_FLAG(std::string, schedule_log, "",
          "Record every accepted request, decision and batch (with its measured times) and write "
          "them to this file at exit, for ternserve-sim --replay (scheduling fidelity). Keeps "
          "them in memory, up to 20 M requests. Empty: none.");
ABSL_FLAG(double, slo_reserve_ms, 0,
          "Milliseconds of every request's SLO (and gRPC deadline) kept for the way to and from "
          "the client: the server schedules for deadline = arrival + SLO - this. 0 = the whole SLO "
          "is the server's (the simulator's model). Measure it as the load generator's "
          "outside_p99_ms; to simulate such a server, give ternserve-sim the SLO minus this.");
ABSL_FLAG(
    double, max_slo_ms, 60000,
    "Largest latency_slo_ms a request may ask for; larger ones are refused as INVALID_ARGUMENT.");

ABSL_FLAG(int, max_message_bytes, 4 << 20,
          "Largest gRPC message accepted, in bytes; a larger one is answered RESOURCE_EXHAUSTED. "
          "One FP32 28x28 image is 3136 bytes.");
ABSL_FLAG(std::string, model_name, "",
          "The model's name in the Open Inference Protocol (ModelInfer's model_name). Empty = the "
          "bundle's model name.");
ABSL_FLAG(int, max_images_per_request, 64,
          "Most images one Open Inference Protocol request may carry (its model's max_batch_size); "
          "more is INVALID_ARGUMENT.");
ABSL_FLAG(std::string, input_scale, "unit",
          "How Open Inference Protocol FP32 pixels are scaled unless a request sets the parameter "
          "input_scale: unit ([0,1]), byte ([0,255], Triton image_client.py's default) or "
          "inception ([-1,1], image_client.py -s INCEPTION). UINT8 pixels are always 0-255.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve gRPC over TLS (with --tls_key). Empty = plaintext.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates: with TLS on, require every client to present a certificate they "
          "signed (mutual TLS).");
ABSL_FLAG(std::string, auth_token_file, "",
          "File of bearer tokens, one per line ('#' comments): every RPC but health must carry "
          "'authorization: Bearer <token>' for one of them, or gets UNAUTHENTICATED; so must "
          "every request for the status page (/metrics stays open). Re-read on SIGHUP. Server "
          "reflection is off with tokens. Empty = no authentication.");

namespace ternserve {
namespace {

constexpr int kExitStartup = 1;
// Measured: the metrics endpoint runs civetweb, whose threads get a fixed 100 KB stack, out of
// which glibc carves every library's static TLS; LibTorch's dependencies bring 106 KB of it
// (OpenBLAS 60 KB, glog 30 KB, libtorch_cpu 10 KB), so pthread_create fails. ternserve has 576 B.
constexpr char kNoMetricsWhy[] =
    " serves no metrics (-1 only): its LibTorch libraries need 106 KB of static TLS per thread, "
    "more than the metrics server's 100 KB thread stacks hold; ternserve serves them";
constexpr int kExitUsage = 2;

const char* SignalName(int signal) { return signal == SIGTERM ? "SIGTERM" : "SIGINT"; }

}  // namespace

int ServerMain(int argc, char** argv, const EngineFactory& engines, const std::string& program,
               bool serves_metrics) {
  // Block the shutdown (and reload) signals before any thread exists, so every thread inherits the
  // mask and only sigwait below receives them.
  sigset_t shutdown_signals;
  sigemptyset(&shutdown_signals);
  sigaddset(&shutdown_signals, SIGTERM);
  sigaddset(&shutdown_signals, SIGINT);
  sigaddset(&shutdown_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &shutdown_signals, nullptr);
  // Debian's absl has mutex deadlock detection on: it takes a stack trace and updates a global
  // lock graph for every absl::Mutex gRPC creates per call, tens of microseconds per request.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  SetUsage("server/server_main.cc",
           absl::StrCat("Serves a Ternserve model bundle over gRPC (ternserve.v1.Classifier, "
                        "grpc.health.v1.Health, reflection).\n\nUsage: ",
                        program,
                        " --bundle=models/ternserve.tsn [--port=8001] [flags]\n"
                        "SIGTERM or SIGINT: health NOT_SERVING, new RPCs refused UNAVAILABLE, "
                        "everything accepted answered within --drain_timeout, exit 0. A second "
                        "SIGTERM or SIGINT exits at once (128 + the signal's number).\n"
                        "SIGHUP: reload the bundle at --bundle (and --profile) and serve it from "
                        "the next batch on, keeping the old one if the new one fails its checks; "
                        "re-read --auth_token_file."),
           absl::StrCat(program, " ", kTernserveVersion));
  if (!PrevalidateFlags(argc, argv, program, "server/server_main.cc")) {
    std::fprintf(stderr, "Try --help.\n");
    return kExitUsage;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "%s: unexpected argument '%s' (flags are --name=value)\n", program.c_str(),
                 positional[1]);
    return kExitUsage;
  }

  // Flags map onto the options; what does not parse is collected with the validator's errors.
  std::vector<std::string> errors;
  ServerOptions options;
  options.bundle_path = absl::GetFlag(FLAGS_bundle);
  options.host = absl::GetFlag(FLAGS_host);
  options.port = absl::GetFlag(FLAGS_port);
  options.port_file = absl::GetFlag(FLAGS_port_file);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  if (!serves_metrics && options.metrics_port >= 0) {
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag("metrics_port");
    if (flag->CurrentValue() != flag->DefaultValue()) {
      errors.push_back(absl::StrCat("--metrics_port: ", program, kNoMetricsWhy));
    } else {
      spdlog::info("{}{}", program, kNoMetricsWhy);
      options.metrics_port = -1;
    }
  }
  options.subnet_id = absl::GetFlag(FLAGS_subnet);
  options.policy = absl::GetFlag(FLAGS_policy);
  options.profile_path = absl::GetFlag(FLAGS_profile);
  options.profile_budget_s = absl::GetFlag(FLAGS_profile_budget_s);
  if (absl::StatusOr<LateMode> late = ParseLateMode(absl::GetFlag(FLAGS_late)); late.ok()) {
    options.late = *late;
  } else {
    errors.push_back(absl::StrCat("--late: ", late.status().message()));
  }
  ParseEngineFlags(absl::GetFlag(FLAGS_engine), absl::GetFlag(FLAGS_isa), engines, &options,
                   &errors);
  options.workers = absl::GetFlag(FLAGS_workers);
  options.threads = absl::GetFlag(FLAGS_threads);
  if (const std::string cpus = absl::GetFlag(FLAGS_worker_cpus); !cpus.empty()) {
    absl::StatusOr<std::vector<int>> parsed = ParseCpuList(cpus, OnlineCpus());
    if (parsed.ok()) {
      options.worker_cpus = *std::move(parsed);
    } else {
      errors.push_back(absl::StrCat("--worker_cpus=", cpus, ": ", parsed.status().message()));
    }
  }
  options.worker_spin_us = absl::GetFlag(FLAGS_worker_spin_us);
  options.max_batch = absl::GetFlag(FLAGS_max_batch);
  options.max_queue = absl::GetFlag(FLAGS_max_queue);
  options.max_queue_delay_ms = absl::GetFlag(FLAGS_max_queue_delay_ms);
  options.drain_timeout = absl::GetFlag(FLAGS_drain_timeout);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.default_slo_ms = absl::GetFlag(FLAGS_default_slo_ms);
  options.max_slo_ms = absl::GetFlag(FLAGS_max_slo_ms);
  options.slo_reserve_ms = absl::GetFlag(FLAGS_slo_reserve_ms);
  options.adapt_latency = absl::GetFlag(FLAGS_adapt_latency);
  options.schedule_log_path = absl::GetFlag(FLAGS_schedule_log);
  options.max_receive_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.model_name = absl::GetFlag(FLAGS_model_name);
  options.max_images_per_request = absl::GetFlag(FLAGS_max_images_per_request);
  if (absl::StatusOr<InputScale> scale = ParseInputScale(absl::GetFlag(FLAGS_input_scale));
      scale.ok()) {
    options.input_scale = *scale;
  } else {
    errors.push_back(absl::StrCat("--", scale.status().message()));
  }
  options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
  options.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  const std::vector<std::string> invalid = ValidateServerOptions(options);
  errors.insert(errors.end(), invalid.begin(), invalid.end());
  if (!errors.empty()) {
    for (const std::string& error : errors) {
      std::fprintf(stderr, "%s: %s\n", program.c_str(), error.c_str());
    }
    std::fprintf(stderr, "Try --help.\n");
    return kExitUsage;
  }

  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::Open(options.bundle_path);
  if (!bundle.ok()) {
    spdlog::error("cannot load bundle: {}", bundle.status().ToString());
    return kExitStartup;
  }
  if (absl::StatusOr<int> subnet = ResolveSubnet(**bundle, options.subnet_id); !subnet.ok()) {
    std::fprintf(stderr, "%s: --subnet: %s\n", program.c_str(),
                 std::string(subnet.status().message()).c_str());
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(options, *std::move(bundle), engines);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return kExitStartup;
  }

  int signal = 0;
  while (sigwait(&shutdown_signals, &signal) == 0 && signal == SIGHUP) {
    // The tokens first: a rotation should not wait for a bundle's checks (or profiling).
    if (!options.auth_token_file.empty()) {
      absl::StatusOr<int> tokens = (*server)->ReloadAuthTokens();
      if (tokens.ok()) {
        spdlog::info("SIGHUP: re-read --auth_token_file: {} token{} in use", *tokens,
                     *tokens == 1 ? "" : "s");
      } else {
        spdlog::warn("SIGHUP: cannot re-read --auth_token_file, the tokens in use stay: {}",
                     std::string(tokens.status().message()));
      }
    }
    // ReloadModel logs what it swapped in, or why it kept the old bundle.
    spdlog::info("SIGHUP: reloading {}", options.bundle_path);
    (void)(*server)->ReloadModel();
  }
  spdlog::info(
      "received {}, shutting down: not serving, answering every accepted request within "
      "--drain_timeout={} (a second SIGTERM or SIGINT exits at once)",
      SignalName(signal), absl::FormatDuration(options.drain_timeout));
  // A second SIGTERM or SIGINT while draining: exit now, as a shell reports death by a signal.
  std::thread([shutdown_signals] {
    int again = 0;
    while (sigwait(&shutdown_signals, &again) == 0 && again == SIGHUP) {
    }
    std::fprintf(stderr, "received a second %s: exiting at once, without draining\n",
                 SignalName(again));
    std::_Exit(128 + again);
  }).detach();
  (*server)->Shutdown();
  server->reset();
  spdlog::info("shut down cleanly");
  return 0;
}

}  // namespace ternserve
