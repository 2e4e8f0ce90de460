// ternserve-loadgen: open-loop load generator for a Ternserve server. Replays an arrival trace as
// asynchronous Classify calls (or ClassifyStream messages), or with --api=oip as the Open Inference
// Protocol's ModelInfer calls (ModelStreamInfer messages), with Fashion-MNIST test images and
// reports latency, SLO attainment, measured and claimed accuracy and the sub-net mix (see
// client/loadgen.h). TLS and the token come from the channel flags (client/channel_flags.h).
//
// Exit codes: 0 the run completed (even if some calls failed), 1 the server was unreachable at
// start or an input file is unusable, 2 bad flags or trace spec. SIGINT stops sending; the calls
// in flight are awaited and the requests sent so far are reported.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/channel_flags.h"
#include "client/loadgen.h"
#include "client/loadgen_messages.h"
#include "client/loadgen_plan.h"
#include "client/server_target.h"
#include "scheduler/trace.h"
#include "util/flag_check.h"

ABSL_FLAG(std::string, server, "127.0.0.1:8001",
          "Server address host:port; or replicas, as a list of IP addresses "
          "(127.0.0.1:8001,127.0.0.1:8002) or dns:///name:port (every address the name resolves "
          "to). Calls go round-robin over the replicas that are serving (per request in unary "
          "mode, per stream with --stream).");
ABSL_FLAG(int, max_attempts, 0,
          "Attempts of one call: a call answered UNAVAILABLE (a replica draining, or gone) is "
          "retried, on another replica, up to this many times in all (at most 5). 0: 1 for a "
          "single server, 3 for replicas.");
ABSL_FLAG(std::string, api, "ternserve",
          "The API the requests use: ternserve (ternserve.v1.Classifier: Classify, "
          "ClassifyStream) or oip (the Open Inference Protocol: ModelInfer, ModelStreamInfer; one "
          "FP32 [1,1,28,28] image per request, the SLO as its 'timeout' parameter).");
ABSL_FLAG(std::string, model_name, "",
          "With --api=oip: the model every request names. Empty: the server's only model "
          "(asked with RepositoryIndex at start).");
ABSL_FLAG(std::string, trace, "",
          "Arrival trace (required): poisson:rate=R,duration=S | gamma:rate=R,cv2=C,duration=S | "
          "ramp:from=R1,to=R2,duration=S | mmpp:calm=R1,burst=R2,calm_s=A,burst_s=B,duration=S "
          "(Poisson at R1 or R2, calm and burst spells of mean A and B s) | file:PATH (arrival µs "
          "per line, optional SLO ms, which wins over --slo_ms/--slo_mix).");
ABSL_FLAG(std::optional<double>, slo_ms, std::nullopt,
          "Latency SLO of every request, in ms (sent as latency_slo_ms, or with --api=oip as the "
          "'timeout' parameter in µs). Unset: 50, or --slo_mix.");
ABSL_FLAG(std::string, slo_mix, "",
          "SLO mix S1:p1,S2:p2,...: each request gets SLO Si ms with probability pi / sum(p). "
          "Excludes --slo_ms.");
ABSL_FLAG(std::string, floor_mix, "",
          "Accuracy floors F1:w1,F2:w2,...: each request asks for a sub-net of expected accuracy "
          "Fi or more (min_accuracy; with --api=oip the double parameter 'min_accuracy') with "
          "probability wi / sum(w); 0 = any sub-net. E.g. 0.9149:0.3,0:0.7. The report counts, "
          "per floor, the answers, the refusals (OUT_OF_RANGE, DEADLINE_EXCEEDED) and any answer "
          "below its floor. Empty: no floors.");
ABSL_FLAG(int, connections, 4, "HTTP/2 connections (channels); requests round-robin over them.");
ABSL_FLAG(bool, stream, false,
          "Send the requests as messages on one stream per connection (ClassifyStream, or "
          "ModelStreamInfer) instead of a unary call each (cheaper per request for both sides, as "
          "perf_analyzer --streaming).");
ABSL_FLAG(int, timeout_ms, 10000,
          "gRPC deadline of each unary call, in ms; with --stream, how long (plus 5 s) to wait for "
          "the last answers once everything is sent.");
ABSL_FLAG(int, connect_timeout_ms, 3000,
          "How long the start-up check (GetModelInfo, or with --api=oip ModelMetadata or "
          "RepositoryIndex, then every connection up) may take, in ms.");
ABSL_FLAG(uint64_t, seed, 1, "Seed for the trace, the SLO mix and the choice of images.");
ABSL_FLAG(std::string, images,
          std::string(ternserve::kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz",
          "IDX images file (plain or .gz).");
ABSL_FLAG(std::string, labels,
          std::string(ternserve::kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz",
          "IDX labels file matching --images.");
ABSL_FLAG(bool, progress, true, "Print a progress line on stderr every second.");
ABSL_FLAG(bool, json, false, "Print one JSON object on stdout instead of a human summary.");
ABSL_FLAG(
    std::string, records, "",
    "Also write one CSV line per request to this file: arrival_ms,sent_ms,done_ms (since the "
    "start of the run), slo_ms, code (gRPC status code; -1 = no answer), deadline_met (the "
    "server's word), expired_in_client (1: DEADLINE_EXCEEDED from the load generator itself, "
    "a stream message whose SLO ran out before it could be written), backend (the replica that "
    "answered, e.g. ipv4:127.0.0.1:8001; empty if none). Empty = none.");

namespace ternserve {
namespace {

constexpr char kOwnFile[] = "client/loadgen_main.cc";
// The files whose flags are this binary's, for --help and the usage checks: this one and the
// channel flags (client/channel_flags.cc). The binary links no other flags from client/.
constexpr char kOwnFlagFiles[] = "client/";
constexpr int kExitUnreachable = 1;
constexpr int kExitUsage = 2;

std::atomic<bool> stop_requested{false};

extern "C" void OnSigint(int) {
  stop_requested.store(true);
  std::signal(SIGINT, SIG_DFL);  // a second ^C kills
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "ternserve-loadgen: %s\nTry --help.\n", message.c_str());
  return kExitUsage;
}

int Main(int argc, char** argv) {
  SetUsage(kOwnFile,
           "Open-loop load generator: replays an arrival trace as asynchronous Classify calls (or "
           "ClassifyStream messages, --stream), or with --api=oip ModelInfer calls (or "
           "ModelStreamInfer messages), with Fashion-MNIST test images, and reports latency, SLO "
           "attainment, measured and claimed accuracy and the sub-net mix.\n\nUsage: "
           "ternserve-loadgen --server ADDR --trace SPEC [--api ternserve|oip] [--slo_ms S | "
           "--slo_mix S1:p1,S2:p2] [--floor_mix F1:w1,F2:w2] [--connections N] [--stream] "
           "[--max_attempts N] [--tls_ca FILE] "
           "[--auth_token_file FILE] [--json]\n\nExit codes: 0 run completed, 1 server "
           "unreachable or refusing, or input unusable, 2 usage error.");
  if (PrintHelpIfAsked(argc, argv, kOwnFlagFiles)) return 0;
  if (!PrevalidateFlags(argc, argv, "ternserve-loadgen", kOwnFlagFiles)) {
    std::fprintf(stderr, "Try --help.\n");
    return kExitUsage;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return UsageError(absl::StrCat("unexpected argument '", positional[1], "'"));
  }

  LoadgenOptions options;
  options.server = absl::GetFlag(FLAGS_server);
  options.trace = absl::GetFlag(FLAGS_trace);
  options.connections = absl::GetFlag(FLAGS_connections);
  options.stream = absl::GetFlag(FLAGS_stream);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.images_path = absl::GetFlag(FLAGS_images);
  options.labels_path = absl::GetFlag(FLAGS_labels);
  options.progress = absl::GetFlag(FLAGS_progress);
  const int timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  const int connect_timeout_ms = absl::GetFlag(FLAGS_connect_timeout_ms);
  const std::optional<double> slo_ms = absl::GetFlag(FLAGS_slo_ms);
  const std::string slo_mix = absl::GetFlag(FLAGS_slo_mix);

  if (options.server.empty()) return UsageError("--server must not be empty");
  if (absl::StatusOr<ServerTarget> target = ParseServerTarget(options.server); !target.ok()) {
    return UsageError(absl::StrCat("--server: ", target.status().message()));
  }
  options.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  if (options.max_attempts < 0 || options.max_attempts > kMaxCallAttempts) {
    return UsageError(absl::StrCat("--max_attempts must be in [0, ", kMaxCallAttempts, "]"));
  }
  absl::StatusOr<LoadgenApi> api = ParseLoadgenApi(absl::GetFlag(FLAGS_api));
  if (!api.ok()) return UsageError(absl::StrCat("--api: ", api.status().message()));
  options.api = *api;
  options.model_name = absl::GetFlag(FLAGS_model_name);
  if (!options.model_name.empty() && options.api != LoadgenApi::kOip) {
    return UsageError("--model_name goes with --api=oip (the ternserve API names no model)");
  }
  absl::StatusOr<ClientSecurity> security = ClientSecurity::Load(ChannelOptionsFromFlags());
  if (!security.ok()) return UsageError(std::string(security.status().message()));
  options.security = *std::move(security);
  if (options.trace.empty()) return UsageError("--trace is required");
  if (absl::StatusOr<TraceSpec> spec = ParseTraceSpec(options.trace); !spec.ok()) {
    return UsageError(absl::StrCat("--trace: ", spec.status().message()));
  }
  if (options.connections < 1 || options.connections > 1024) {
    return UsageError("--connections must be in [1, 1024]");
  }
  if (timeout_ms < 1) return UsageError("--timeout_ms must be >= 1");
  if (connect_timeout_ms < 1) return UsageError("--connect_timeout_ms must be >= 1");
  options.timeout = absl::Milliseconds(timeout_ms);
  options.connect_timeout = absl::Milliseconds(connect_timeout_ms);
  if (slo_ms.has_value() && !slo_mix.empty()) {
    return UsageError("give --slo_ms or --slo_mix, not both");
  }
  if (slo_ms.has_value()) {
    if (!(*slo_ms > 0) || *slo_ms > 3.6e6) return UsageError("--slo_ms must be in (0, 3600000]");
    options.slo_mix = {{*slo_ms, 1}};
  } else if (!slo_mix.empty()) {
    absl::StatusOr<std::vector<SloMixEntry>> mix = ParseSloMix(slo_mix);
    if (!mix.ok()) return UsageError(absl::StrCat("--slo_mix: ", mix.status().message()));
    options.slo_mix = *std::move(mix);
  }
  if (const std::string floor_mix = absl::GetFlag(FLAGS_floor_mix); !floor_mix.empty()) {
    absl::StatusOr<std::vector<FloorMixEntry>> mix = ParseFloorMix(floor_mix);
    if (!mix.ok()) return UsageError(absl::StrCat("--floor_mix: ", mix.status().message()));
    options.floor_mix = *std::move(mix);
  }

  absl::StatusOr<std::unique_ptr<Loadgen>> loadgen = Loadgen::Create(options);
  if (!loadgen.ok()) {
    std::fprintf(stderr, "ternserve-loadgen: %s\n",
                 std::string(loadgen.status().message()).c_str());
    return kExitUnreachable;
  }
  if (absl::Status connected = (*loadgen)->Connect(); !connected.ok()) {
    std::fprintf(stderr, "ternserve-loadgen: %s\n", std::string(connected.message()).c_str());
    return kExitUnreachable;
  }
  std::fprintf(stderr,
               "ternserve-loadgen: %lld requests to %s (%s, %s API%s) over %d connections%s\n",
               static_cast<long long>((*loadgen)->planned()), options.server.c_str(),
               (*loadgen)->server_model().c_str(), std::string(LoadgenApiName(options.api)).c_str(),
               options.security.tls() ? ", TLS" : "", options.connections,
               options.stream ? ", one stream each" : "");
  std::signal(SIGINT, OnSigint);
  const LoadgenReport report = (*loadgen)->Run(&stop_requested);
  if (stop_requested.load()) {
    std::fprintf(stderr, "ternserve-loadgen: interrupted: sent %lld of %lld requests\n",
                 static_cast<long long>(report.sent),
                 static_cast<long long>((*loadgen)->planned()));
  }
  if (const std::string path = absl::GetFlag(FLAGS_records); !path.empty()) {
    if (absl::Status written = WriteRecordsCsv((*loadgen)->records(), report.info.backends, path);
        !written.ok()) {
      std::fprintf(stderr, "ternserve-loadgen: %s\n", std::string(written.message()).c_str());
    }
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << ReportToJson(report).dump() << std::endl;
  } else {
    std::cout << ReportToText(report) << std::flush;
  }
  // Calls that outlived the wait may still run their callbacks into the Loadgen: never free it
  // under them (the process is about to exit anyway).
  if ((*loadgen)->in_flight() > 0) (void)loadgen->release();
  return 0;
}

}  // namespace
}  // namespace ternserve

int main(int argc, char** argv) { return ternserve::Main(argc, argv); }
