// Open-loop load generator. See loadgen.h.
#include "client/loadgen.h"

#include <grpcpp/grpcpp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "scheduler/trace.h"
#include "util/cpu_affinity.h"

namespace ternserve {
namespace {

// The pacing thread sleeps until this long before an arrival, then spins: a sleep wakes up tens of
// µs late, a spin on the last stretch is exact.
// With the timer slack cut to 1 µs (Run) a sleep is rarely more than ~20 µs late; every µs spun
// is a µs of CPU the server under test does not get.
constexpr auto kSpinBeforeArrival = std::chrono::microseconds(25);
// While spinning, the pacing thread yields the core (to completion threads, or the server under
// test on the same machine) until this close to the arrival.
constexpr auto kYieldWhileSpinning = std::chrono::microseconds(5);
// Time from Run to the first arrival, so that the first requests are not late by construction.
constexpr auto kStartDelay = std::chrono::milliseconds(2);
// How long past the last call's deadline Run waits for stragglers.
constexpr absl::Duration kDrainGrace = absl::Seconds(5);

}  // namespace

Loadgen::Loadgen(const LoadgenOptions& options) : options_(options) {
  // gRPC's mutexes are absl::Mutex here; absl's deadlock detection (on in Debian's build) records
  // a stack trace per lock and updates a global lock graph for every mutex gRPC creates per call.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

Loadgen::~Loadgen() = default;

absl::StatusOr<std::unique_ptr<Loadgen>> Loadgen::Create(const LoadgenOptions& options) {
  if (options.connections < 1 || options.connections > 1024) {
    return absl::InvalidArgumentError("connections must be in [1, 1024]");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be > 0");
  }
  if (options.max_attempts < 0 || options.max_attempts > kMaxCallAttempts) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts must be in [0, ", kMaxCallAttempts, "] (0: automatic)"));
  }
  absl::StatusOr<ServerTarget> target = ParseServerTarget(options.server);
  if (!target.ok()) return target.status();
  absl::StatusOr<TraceSpec> spec = ParseTraceSpec(options.trace);
  if (!spec.ok()) return spec.status();
  absl::StatusOr<std::unique_ptr<ArrivalSource>> trace = OpenTrace(*spec, options.seed);
  if (!trace.ok()) return trace.status();

  absl::StatusOr<ImageSet> images = ReadIdxImages(options.images_path);
  if (!images.ok()) return images.status();
  absl::StatusOr<std::vector<uint8_t>> labels = ReadIdxLabels(options.labels_path);
  if (!labels.ok()) return labels.status();
  if (static_cast<int64_t>(labels->size()) != images->count || images->count == 0) {
    return absl::InvalidArgumentError(absl::StrCat(options.images_path, " has ", images->count,
                                                   " images but ", options.labels_path, " has ",
                                                   labels->size(), " labels"));
  }

  auto loadgen = std::unique_ptr<Loadgen>(new Loadgen(options));
  loadgen->target_ = *std::move(target);
  loadgen->max_attempts_ = options.max_attempts != 0       ? options.max_attempts
                           : loadgen->target_.replicated() ? kDefaultCallAttempts
                                                           : 1;
  PlanOptions plan;
  plan.slo_mix = options.slo_mix;
  plan.floor_mix = options.floor_mix;
  plan.image_count = images->count;
  plan.seed = options.seed;
  absl::StatusOr<std::vector<RequestRecord>> records = PlanRequests(trace->get(), plan);
  if (!records.ok()) return records.status();
  loadgen->records_ = *std::move(records);
  loadgen->trace_duration_s_ =
      spec->kind == TraceSpec::Kind::kFile
          ? (loadgen->records_.empty() ? 0 : loadgen->records_.back().arrival_ns / 1e9)
          : spec->duration_s;

  loadgen->labels_ = *std::move(labels);
  LoadgenRpcOptions rpc;
  rpc.api = options.api;
  rpc.model_name = options.model_name;
  rpc.timeout = options.timeout;
  rpc.security = options.security;
  for (const FloorMixEntry& e : options.floor_mix) rpc.floors.push_back(e.min_accuracy);
  loadgen->rpc_ = LoadgenRpc::Create(rpc, *images, loadgen.get());
  return loadgen;
}

absl::Status Loadgen::Connect() {
  for (int i = 0; i < options_.connections; ++i) {
    // Distinct arguments and a local subchannel pool: each channel opens its own connection
    // instead of sharing one from the global pool.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("ternserve.loadgen_connection", i);
    // Round-robin over the replicas. With one attempt (a single server, unless asked otherwise)
    // gRPC's retries are off: the retry filter buffers every request for a possible replay, a
    // per-call cost the load generator need not pay there, and a retried call would hide an error.
    ApplyClientServiceConfig(target_, max_attempts_, &args);
    channels_.push_back(options_.security.NewChannel(target_.uri, args));
  }
  const absl::Time deadline = absl::Now() + options_.connect_timeout;
  absl::StatusOr<std::string> model = rpc_->Handshake(channels_[0], deadline);
  if (!model.ok()) {
    const absl::Status& status = model.status();
    const std::string why =
        absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
    if (status.code() == absl::StatusCode::kUnavailable ||
        status.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::UnavailableError(
          absl::StrCat("cannot reach the server at ", options_.server, " (within ",
                       absl::FormatDuration(options_.connect_timeout), "): ", why));
    }
    return absl::Status(status.code(), absl::StrCat("the server at ", options_.server,
                                                    " refused the start-up check: ", why));
  }
  server_model_ = *std::move(model);
  for (size_t i = 0; i < channels_.size(); ++i) {
    if (!channels_[i]->WaitForConnected(absl::ToChronoTime(deadline))) {
      return absl::UnavailableError(absl::StrCat("connection ", i + 1, " of ", channels_.size(),
                                                 " to ", options_.server, " did not come up"));
    }
  }
  for (const auto& channel : channels_) {
    if (options_.stream) open_streams_.fetch_add(1, std::memory_order_relaxed);
    connections_.push_back(rpc_->NewConnection(channel, options_.stream));
  }
  return absl::OkStatus();
}

int64_t Loadgen::in_flight() const {
  return sent_.load(std::memory_order_acquire) - completed_.load(std::memory_order_acquire) +
         open_streams_.load(std::memory_order_acquire);
}

void Loadgen::Issue(RequestRecord* record, Clock::time_point now) {
  record->sent_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count();
  const int64_t connection = next_connection_;
  if (++next_connection_ == static_cast<int64_t>(connections_.size())) next_connection_ = 0;
  connections_[connection]->Send(record, record - records_.data());
}

uint8_t Loadgen::BackendOf(const std::string& peer) {
  if (peer.empty()) return 0;
  {
    absl::ReaderMutexLock lock(&backends_mu_);
    for (size_t i = 0; i < backends_.size(); ++i) {
      if (backends_[i] == peer) return static_cast<uint8_t>(i + 1);
    }
  }
  absl::MutexLock lock(&backends_mu_);
  for (size_t i = 0; i < backends_.size(); ++i) {  // another thread may have added it meanwhile
    if (backends_[i] == peer) return static_cast<uint8_t>(i + 1);
  }
  if (backends_.size() >= 255) return 0;
  backends_.push_back(peer);
  return static_cast<uint8_t>(backends_.size());
}

void Loadgen::Complete(RequestRecord& r, const LoadgenAnswer& answer, Clock::time_point now) {
  r.done_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count();
  r.code = answer.code;
  r.backend = BackendOf(answer.peer);
  r.expired_in_client = answer.expired_in_client;
  if (answer.code == 0) {
    r.correct = answer.class_id >= 0 && answer.class_id == labels_[r.image];
    r.subnet_id = static_cast<int16_t>(answer.subnet_id);
    r.expected_accuracy = answer.expected_accuracy;
    r.queue_us = answer.queue_us;
    r.compute_us = answer.compute_us;
    r.deadline_met = answer.deadline_met;
    latency_.Record(r.done_ns - r.sent_ns);
    ok_.fetch_add(1, std::memory_order_relaxed);
  } else {
    errors_.fetch_add(1, std::memory_order_relaxed);
    if (!answer.problem.empty() && unreadable_.fetch_add(1, std::memory_order_relaxed) == 0) {
      absl::MutexLock lock(&unreadable_mu_);
      first_unreadable_ = answer.problem;
    }
  }
  // Publishes the record to Run's final read.
  completed_.fetch_add(1, std::memory_order_release);
}

void Loadgen::OnAnswer(RequestRecord* record, const LoadgenAnswer& answer) {
  Complete(*record, answer, Clock::now());
}

void Loadgen::OnStreamAnswer(const LoadgenAnswer& answer) {
  const Clock::time_point now = Clock::now();
  int64_t index = -1;
  // A request is sent (sent_ is stored) after Issue returns, so its answer may come first: any
  // planned index is valid; a record answered twice is not.
  if (!absl::SimpleAtoi(answer.request_id, &index) || index < 0 || index >= planned() ||
      records_[index].code != RequestRecord::kNoResponse) {
    unmatched_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Complete(records_[index], answer, now);
}

void Loadgen::OnStreamDone() { open_streams_.fetch_sub(1, std::memory_order_acq_rel); }

void Loadgen::CloseStreams(Clock::time_point give_up) {
  for (const auto& connection : connections_) connection->CloseWrites();
  auto wait_until = [this](Clock::time_point limit) {
    while (open_streams_.load(std::memory_order_acquire) > 0 && Clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return open_streams_.load(std::memory_order_acquire) == 0;
  };
  if (wait_until(give_up)) return;
  std::fprintf(stderr,
               "ternserve-loadgen: %d stream(s) still open after the wait: cancelled; their "
               "unanswered requests count as NO_RESPONSE\n",
               open_streams_.load());
  for (const auto& connection : connections_) connection->Cancel();  // no-op once finished
  wait_until(Clock::now() + std::chrono::seconds(1));
}

LoadgenReport Loadgen::Run(const std::atomic<bool>* stop) {
  RunInfo info;
  info.server = options_.server;
  info.max_attempts = max_attempts_;
  info.trace = options_.trace;
  for (const FloorMixEntry& e : options_.floor_mix) info.floors.push_back(e.min_accuracy);
  info.connections = options_.connections;
  info.mode = options_.stream ? "stream" : "unary";
  info.api = std::string(LoadgenApiName(options_.api));
  info.planned = planned();
  info.trace_duration_s = trace_duration_s_;
  if (connections_.empty()) return Summarize({}, info);  // not connected: nothing sent
  // Sleeps of the pacing thread end within ~1 µs of the asked time instead of the default 50 µs
  // timer slack (Linux; harmless elsewhere).
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  start_ = Clock::now() + kStartDelay;
  info.start_unix_ms = absl::ToUnixMillis(absl::Now() + absl::FromChrono(kStartDelay));
  progress_last_time_ = start_;
  absl::Notification finished;
  std::thread progress;
  if (options_.progress) progress = std::thread([this, &finished] { ProgressLoop(&finished); });

  Clock::duration max_lag = Clock::duration::zero();
  int64_t sent = 0;
  for (RequestRecord& record : records_) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) break;
    const Clock::time_point arrival = start_ + std::chrono::nanoseconds(record.arrival_ns);
    Clock::time_point now = Clock::now();
    if (arrival - now > kSpinBeforeArrival) {
      std::this_thread::sleep_for(arrival - now - kSpinBeforeArrival);
      now = Clock::now();
    }
    while (now < arrival) {
      // Spin, but let a runnable completion or server thread have this core meanwhile.
      if (arrival - now > kYieldWhileSpinning) {
        sched_yield();
      } else {
        CpuRelax();
      }
      now = Clock::now();
    }
    // Behind the trace: send at once, never skip; the lag is reported.
    max_lag = std::max(max_lag, now - arrival);
    Issue(&record, now);
    sent_.store(++sent, std::memory_order_release);
  }

  const Clock::time_point give_up =
      Clock::now() + absl::ToChronoNanoseconds(options_.timeout + kDrainGrace);
  if (options_.stream) {
    CloseStreams(give_up);
  } else {
    while (completed_.load(std::memory_order_acquire) < sent && Clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  if (const int64_t unmatched = unmatched_.load(); unmatched > 0) {
    std::fprintf(stderr,
                 "ternserve-loadgen: %lld stream response(s) named no outstanding request; "
                 "ignored\n",
                 static_cast<long long>(unmatched));
  }
  if (const int64_t unreadable = unreadable_.load(); unreadable > 0) {
    absl::MutexLock lock(&unreadable_mu_);
    std::fprintf(stderr,
                 "ternserve-loadgen: %lld answer(s) could not be read, counted as INTERNAL "
                 "(the first: %s)\n",
                 static_cast<long long>(unreadable), first_unreadable_.c_str());
  }
  finished.Notify();
  if (progress.joinable()) progress.join();

  info.max_send_lag_ms = std::chrono::duration<double, std::milli>(max_lag).count();
  {
    absl::MutexLock lock(&backends_mu_);
    info.backends = backends_;
  }
  return Summarize(absl::MakeConstSpan(records_.data(), static_cast<size_t>(sent)), info);
}

void Loadgen::ProgressLoop(absl::Notification* done) {
  while (!done->WaitForNotificationWithTimeout(absl::Seconds(1))) PrintProgress(false);
  PrintProgress(true);
}

void Loadgen::PrintProgress(bool final) {
  static const bool tty = isatty(STDERR_FILENO) != 0;
  const Clock::time_point now = Clock::now();
  // Counters read one by one: a call may complete between the loads (even before the pacing
  // thread counts it as sent), so in flight is clamped at 0.
  const int64_t completed = completed_.load(std::memory_order_acquire);
  const int64_t sent = sent_.load(std::memory_order_acquire);
  const int64_t ok = ok_.load(std::memory_order_relaxed);
  const int64_t errors = errors_.load(std::memory_order_relaxed);
  const double dt = std::chrono::duration<double>(now - progress_last_time_).count();
  const double rps = dt > 0 ? static_cast<double>(ok - progress_last_ok_) / dt : 0;
  progress_last_ok_ = ok;
  progress_last_time_ = now;
  const double elapsed_s = std::max(0.0, std::chrono::duration<double>(now - start_).count());
  const std::string line = absl::StrFormat(
      "ternserve-loadgen: %6.1f s  sent %d  ok %d  errors %d  in flight %d  %.0f rps  p99 %.3f ms",
      elapsed_s, sent, ok, errors, std::max<int64_t>(0, sent - completed), rps,
      latency_.QuantileMs(0.99));
  if (tty) {
    std::fprintf(stderr, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
  } else if (!final) {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace ternserve
