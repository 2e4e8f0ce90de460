// ternserve-sim: replays an arrival trace against a scheduling policy and a latency profile with
// the scheduler's own queue and policy code on a simulated clock, and prints the outcome.
//
// Exit codes: 0 done, 1 the profile or trace file cannot be used, 2 bad flags or trace spec.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "scheduler/latency_profile.h"
#include "scheduler/policy.h"
#include "scheduler/schedule_log.h"
#include "scheduler/simulator.h"
#include "scheduler/speed.h"
#include "scheduler/trace.h"
#include "util/flag_check.h"

ABSL_FLAG(std::string, profile, "", "Latency profile JSON (as written by ternserve-profile).");
ABSL_FLAG(std::string, trace, "",
          "Arrival trace: poisson:rate=R,duration=S | gamma:rate=R,cv2=C,duration=S | "
          "ramp:from=R1,to=R2,duration=S | mmpp:calm=R1,burst=R2,calm_s=A,burst_s=B,duration=S "
          "(Poisson at R1 or R2, calm and burst spells of mean A and B s) | file:PATH (arrival µs "
          "per line, optional SLO ms).");
ABSL_FLAG(std::string, policy, "slackfit",
          "Scheduling policy: slackfit, fixed[:<subnet>], infaas, clipper[:<subnet>].");
ABSL_FLAG(int, workers, 1, "Simulated workers, each running one batch at a time.");
ABSL_FLAG(double, slo_ms, 50, "Latency SLO (queue + compute) of requests with none in the trace.");
ABSL_FLAG(uint64_t, seed, 1, "Seed for the trace and the service-time draws.");
ABSL_FLAG(std::string, late, "drop",
          "Hopeless requests: drop (answer DEADLINE_EXCEEDED) or serve (fastest sub-net, a miss).");
ABSL_FLAG(int, max_queue, 1 << 20, "Queue bound; arrivals beyond it are rejected (misses).");
ABSL_FLAG(int, max_batch, 0, "Largest batch any policy forms. 0 = the profile's largest.");
ABSL_FLAG(double, max_queue_delay_ms, 0,
          "fixed: how long the head request may wait for a batch to fill. 0 = never wait.");
ABSL_FLAG(int, slackfit_buckets, 8, "slackfit: number of latency buckets.");
ABSL_FLAG(double, slo_reserve_ms, 0,
          "Part of every SLO the server keeps for the way to and from the client: the policy plans "
          "for arrival + SLO - this, as ternserve --slo_reserve_ms. Must be below --slo_ms.");
ABSL_FLAG(double, outside_p50_ms, 0,
          "Median time a request spends outside the server (both gRPC stacks, the network). With "
          "it, a request is met when queue + compute + its outside time (log-normal, median this, "
          "99th percentile --outside_p99_ms) is within its SLO. 0 = none.");
ABSL_FLAG(double, outside_p99_ms, 0, "99th percentile of the outside time; >= --outside_p50_ms.");
ABSL_FLAG(std::string, speed, "none",
          "The engine's true speed over time, as a factor on the profile's latencies (the "
          "policy still plans with the profile): none | step:at=S,factor=F | "
          "ramp:from=F1,to=F2,start=S1,end=S2 | spells:factor=F,on_s=A,off_s=B (slow spells of "
          "mean A s between normal stretches of mean B s) | file:PATH (\"<time_s> <factor>\" "
          "lines).");
ABSL_FLAG(bool, adapt_latency, true,
          "The policy corrects its profile by the batch times it measures, as ternserve "
          "--adapt_latency (scheduler/latency_model.h). false: it plans with the profile as is.");
ABSL_FLAG(std::string, replay, "",
          "Instead of --trace: replay a live run's schedule log (ternserve --schedule_log): its "
          "accepted requests, its policy settings, and every batch taking exactly as long as it "
          "did live; prints how many decisions were the server's and both attainments. "
          "--profile must be the one the server ran with.");
ABSL_FLAG(std::string, floor_mix, "",
          "Accuracy floors F1:w1,F2:w2,...: each request needs a sub-net of expected accuracy Fi "
          "or more with probability wi / sum(w) (0 = any sub-net); e.g. 0.9149:0.3,0:0.7. "
          "A floor above every sub-net, or one that no sub-net meeting it can serve before the "
          "deadline, is refused at arrival (a miss). Empty: no floors.");
ABSL_FLAG(bool, json, false, "Print one JSON object instead of a human-readable summary.");

namespace ternserve {
namespace {

constexpr int kExitInput = 1;
constexpr int kExitUsage = 2;

int UsageError(const std::string& message) {
  std::fprintf(stderr, "ternserve-sim: %s\nTry --help.\n", message.c_str());
  return kExitUsage;
}

// ternserve-sim --replay: scheduling fidelity of a live run.
int Replay(const std::string& log_path, const std::string& profile_path, bool json) {
  absl::StatusOr<LatencyProfile> profile = LoadLatencyProfile(profile_path);
  if (!profile.ok()) {
    std::fprintf(stderr, "ternserve-sim: --profile: %s\n",
                 std::string(profile.status().message()).c_str());
    return kExitInput;
  }
  absl::StatusOr<ScheduleLog> log = LoadScheduleLog(log_path);
  if (!log.ok()) {
    std::fprintf(stderr, "ternserve-sim: --replay: %s\n",
                 std::string(log.status().message()).c_str());
    return kExitInput;
  }
  absl::StatusOr<ReplayReport> report = ReplayScheduleLog(*profile, *log);
  if (!report.ok()) {
    std::fprintf(stderr, "ternserve-sim: --replay=%s: %s\n", log_path.c_str(),
                 std::string(report.status().message()).c_str());
    return kExitInput;
  }
  const double matched = report->compared > 0 ? static_cast<double>(report->matched) /
                                                    static_cast<double>(report->compared)
                                              : 1.0;
  if (json) {
    nlohmann::json out = {
        {"replay", log_path},
        {"policy", log->policy},
        {"requests", report->result.requests},
        {"live_batches", report->live_batches},
        {"sim_batches", report->result.batches},
        {"decisions_compared", report->compared},
        {"decisions_matched", report->matched},
        {"decisions_matched_fraction", matched},
        {"first_mismatch", report->first_mismatch},
        {"server_attainment", report->server_attainment},
        {"sim_attainment", report->result.slo_attainment},
        {"gap_points", 100 * (report->result.slo_attainment - report->server_attainment)},
        {"cancelled_live", report->cancelled},
        {"truncated", log->truncated},
    };
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  std::printf("replay of %s: policy %s, %d workers, %lld requests, %lld batches live\n",
              log_path.c_str(), log->policy.c_str(), log->workers,
              static_cast<long long>(report->result.requests),
              static_cast<long long>(report->live_batches));
  std::printf("decisions the same: %lld of %lld (%.3f%%), first difference at %lld\n",
              static_cast<long long>(report->matched), static_cast<long long>(report->compared),
              100 * matched, static_cast<long long>(report->first_mismatch));
  std::printf("attainment: server %.4f%%  simulator %.4f%%  gap %+.3f points%s\n",
              100 * report->server_attainment, 100 * report->result.slo_attainment,
              100 * (report->result.slo_attainment - report->server_attainment),
              log->truncated ? "  (log truncated)" : "");
  return 0;
}

int Main(int argc, char** argv) {
  SetUsage(
      "scheduler/sim_main.cc",
      "Replays an arrival trace against a scheduling policy and a latency profile, on a simulated "
      "clock with the scheduler's own queue and policy code.\n\nUsage: ternserve-sim "
      "--profile=profile.json --trace=gamma:rate=2000,cv2=4,duration=60 --policy=slackfit "
      "[--workers=W] [--slo_ms=S] [--slo_reserve_ms=R] [--outside_p50_ms=A --outside_p99_ms=B] "
      "[--speed=SPEC] [--adapt_latency=false] [--floor_mix=F1:w1,...] [--seed=N] [--json]");
  if (PrintHelpIfAsked(argc, argv, "scheduler/sim_main.cc")) return 0;
  if (!PrevalidateFlags(argc, argv, "ternserve-sim", "scheduler/sim_main.cc")) {
    std::fprintf(stderr, "Try --help.\n");
    return kExitUsage;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    return UsageError(absl::StrCat("unexpected argument '", positional[1], "'"));
  }

  SimulatorOptions options;
  options.policy = absl::GetFlag(FLAGS_policy);
  options.workers = absl::GetFlag(FLAGS_workers);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.max_queue = absl::GetFlag(FLAGS_max_queue);
  options.policy_options.max_batch = absl::GetFlag(FLAGS_max_batch);
  options.policy_options.slackfit_buckets = absl::GetFlag(FLAGS_slackfit_buckets);
  options.policy_options.adapt_latency = absl::GetFlag(FLAGS_adapt_latency);
  const double slo_ms = absl::GetFlag(FLAGS_slo_ms);
  const double delay_ms = absl::GetFlag(FLAGS_max_queue_delay_ms);
  if (absl::GetFlag(FLAGS_profile).empty()) return UsageError("--profile is required");
  if (const std::string replay = absl::GetFlag(FLAGS_replay); !replay.empty()) {
    if (!absl::GetFlag(FLAGS_trace).empty()) {
      return UsageError("--replay takes its arrivals from the log: drop --trace");
    }
    return Replay(replay, absl::GetFlag(FLAGS_profile), absl::GetFlag(FLAGS_json));
  }
  if (absl::GetFlag(FLAGS_trace).empty()) return UsageError("--trace is required");
  if (options.workers < 1 || options.workers > 100000) {
    return UsageError("--workers must be in [1, 100000]");
  }
  if (!(slo_ms > 0) || slo_ms > 3.6e6) return UsageError("--slo_ms must be in (0, 3600000]");
  if (!(delay_ms >= 0) || delay_ms > 3.6e6) {
    return UsageError("--max_queue_delay_ms must be in [0, 3600000]");
  }
  if (options.max_queue < 1) return UsageError("--max_queue must be >= 1");
  // The same check as ternserve's --policy, before the profile is read.
  if (absl::Status policy = ValidatePolicySpec(options.policy); !policy.ok()) {
    return UsageError(absl::StrCat("--policy: ", policy.message()));
  }
  if (options.policy_options.max_batch < 0) return UsageError("--max_batch must be >= 0");
  if (options.policy_options.slackfit_buckets < 1) {
    return UsageError("--slackfit_buckets must be >= 1");
  }
  const double reserve_ms = absl::GetFlag(FLAGS_slo_reserve_ms);
  const double outside_p50_ms = absl::GetFlag(FLAGS_outside_p50_ms);
  const double outside_p99_ms = absl::GetFlag(FLAGS_outside_p99_ms);
  if (!(reserve_ms >= 0 && reserve_ms < slo_ms)) {
    return UsageError("--slo_reserve_ms must be in [0, --slo_ms)");
  }
  if (!(outside_p50_ms >= 0 && outside_p99_ms >= outside_p50_ms && outside_p99_ms <= 3.6e6)) {
    return UsageError("need 0 <= --outside_p50_ms <= --outside_p99_ms <= 3600000");
  }
  options.slo = absl::Microseconds(slo_ms * 1000);
  options.slo_reserve = absl::Microseconds(reserve_ms * 1000);
  options.outside_p50 = absl::Microseconds(outside_p50_ms * 1000);
  options.outside_p99 = absl::Microseconds(outside_p99_ms * 1000);
  options.policy_options.max_queue_delay = absl::Microseconds(delay_ms * 1000);
  absl::StatusOr<LateMode> late = ParseLateMode(absl::GetFlag(FLAGS_late));
  if (!late.ok()) return UsageError(absl::StrCat("--late: ", late.status().message()));
  options.late = *late;

  if (const std::string floor_mix = absl::GetFlag(FLAGS_floor_mix); !floor_mix.empty()) {
    absl::StatusOr<std::vector<FloorMixEntry>> mix = ParseFloorMix(floor_mix);
    if (!mix.ok()) return UsageError(absl::StrCat("--floor_mix: ", mix.status().message()));
    options.floor_mix = *std::move(mix);
  }

  absl::StatusOr<TraceSpec> spec = ParseTraceSpec(absl::GetFlag(FLAGS_trace));
  if (!spec.ok()) return UsageError(absl::StrCat("--trace: ", spec.status().message()));
  {
    const std::string speed_text = absl::GetFlag(FLAGS_speed);
    absl::StatusOr<SpeedSpec> speed = ParseSpeedSpec(speed_text);
    if (!speed.ok()) {
      // A file that cannot be used is an input error, as a trace file is; a bad spec a flag error.
      if (!absl::StartsWith(speed_text, "file:")) {
        return UsageError(absl::StrCat("--speed: ", speed.status().message()));
      }
      std::fprintf(stderr, "ternserve-sim: --speed: %s\n",
                   std::string(speed.status().message()).c_str());
      return kExitInput;
    }
    options.speed = *std::move(speed);
  }
  absl::StatusOr<LatencyProfile> profile = LoadLatencyProfile(absl::GetFlag(FLAGS_profile));
  if (!profile.ok()) {
    std::fprintf(stderr, "ternserve-sim: --profile: %s\n",
                 std::string(profile.status().message()).c_str());
    return kExitInput;
  }
  // A policy that does not fit the profile (e.g. fixed:<id> of a sub-net it lacks) is a flag error.
  if (absl::StatusOr<std::unique_ptr<Policy>> policy =
          CreatePolicy(options.policy, *profile, options.policy_options);
      !policy.ok()) {
    return UsageError(absl::StrCat("--policy: ", policy.status().message()));
  }
  absl::StatusOr<std::unique_ptr<ArrivalSource>> trace = OpenTrace(*spec, options.seed);
  if (!trace.ok()) {
    std::fprintf(stderr, "ternserve-sim: --trace: %s\n",
                 std::string(trace.status().message()).c_str());
    return kExitInput;
  }

  // Wall time is measured here, never in the simulator: it only reports throughput.
  const auto wall_start = std::chrono::steady_clock::now();
  absl::StatusOr<SimulationResult> result = Simulate(*profile, trace->get(), options);
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (!result.ok()) {
    const bool usage = result.status().code() == absl::StatusCode::kInvalidArgument;
    std::fprintf(stderr, "ternserve-sim: %s\n", std::string(result.status().message()).c_str());
    return usage ? kExitUsage : kExitInput;
  }
  std::fprintf(stderr, "ternserve-sim: %lld requests in %.3f s wall (%.2f M requests/s)\n",
               static_cast<long long>(result->requests), wall_s,
               wall_s > 0 ? static_cast<double>(result->requests) / wall_s / 1e6 : 0.0);
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("%s\n", SimulationResultToJson(*result, options).c_str());
    return 0;
  }
  std::printf("policy %s, %d workers, SLO %.1f ms\n", options.policy.c_str(), options.workers,
              slo_ms);
  std::printf("requests %lld  SLO attainment %.4f%%  dropped %lld  rejected %lld\n",
              static_cast<long long>(result->requests), 100 * result->slo_attainment,
              static_cast<long long>(result->dropped), static_cast<long long>(result->rejected));
  std::printf("mean accuracy %.4f  p50 %.3f ms  p99 %.3f ms  mean batch %.2f\n",
              result->mean_accuracy, result->p50_ms, result->p99_ms, result->mean_batch);
  std::printf("speed %s  latency scale mean %.3f  last %.3f%s\n",
              options.speed.text.empty() ? "none" : options.speed.text.c_str(),
              result->mean_latency_scale, result->final_latency_scale,
              options.policy_options.adapt_latency ? "" : " (--adapt_latency=false)");
  for (const auto& [id, count] : result->subnet_requests) {
    std::printf("  sub-net %d: %.2f%% of served\n", id,
                100.0 * static_cast<double>(count) / static_cast<double>(result->served));
  }
  for (const auto& [floor, f] : result->floors) {
    std::printf(
        "  floor %.4f: %lld requests, SLO attainment %.4f%%, refused %lld (above every sub-net) + "
        "%lld (too slow for the deadline), served at >= %.4f, floor violations %lld\n",
        floor, static_cast<long long>(f.requests),
        f.requests > 0 ? 100.0 * static_cast<double>(f.met) / static_cast<double>(f.requests) : 0.0,
        static_cast<long long>(f.refused_above), static_cast<long long>(f.refused_deadline),
        f.min_served_accuracy, static_cast<long long>(f.violations));
  }
  return 0;
}

}  // namespace
}  // namespace ternserve

int main(int argc, char** argv) { return ternserve::Main(argc, argv); }
