// Open-loop load generator. See loadgen.h.
#include "client/loadgen.h"

#include <grpcpp/grpcpp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
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

// One in-flight call; owned by the gRPC callback, which deletes it.
struct Loadgen::Call {
  grpc::ClientContext context;
  v1::ClassifyRequest request;
  v1::ClassifyResponse response;
  RequestRecord* record = nullptr;
  // The request borrows its image's prebuilt Pixels (no copy on the hot path), so it must give it
  // back before it is destroyed. Many calls read one Pixels at once; protobuf const access,
  // serialization included, is thread-safe.
  ~Call() { request.unsafe_arena_release_pixels(); }
};

// One ClassifyStream (stream mode). The pacing thread queues requests with Send; gRPC allows one
// outstanding write, so they go out one at a time from the queue, the next started by the previous
// write's completion. One read is always posted; each response goes to the Loadgen. Owned by the
// Loadgen, which must outlive OnDone (see in_flight()). Thread-safe: Send/CloseWrites (pacing
// thread) and the reactions (gRPC threads) share the queue under mu_.
class Loadgen::Stream final
    : public grpc::ClientBidiReactor<v1::ClassifyRequest, v1::ClassifyResponse> {
 public:
  Stream(Loadgen* owner, v1::Classifier::Stub* stub) : owner_(owner) {
    stub->async()->ClassifyStream(&context_, this);
    StartRead(&response_);
    StartCall();
  }

  // Queues one request (its request_id set, its pixels borrowed) and writes it if the stream is
  // idle.
  void Send(const v1::Pixels* pixels, const RequestRecord& record, int64_t index) {
    const v1::ClassifyRequest* start = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (broken_) return;  // stays unanswered: counted as NO_RESPONSE
      Outgoing& out = queue_.emplace_back();
      out.request.unsafe_arena_set_allocated_pixels(const_cast<v1::Pixels*>(pixels));
      out.request.set_latency_slo_ms(record.slo_ms);
      out.request.set_top_k(1);
      out.request.set_request_id(std::to_string(index));
      if (!writing_) {
        writing_ = true;
        start = &queue_.front().request;
      }
    }
    if (start != nullptr) StartWrite(start);
  }

  // No more requests: half-closes once the queue has gone out.
  void CloseWrites() {
    bool close_now = false;
    {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      close_now = !writing_ && !writes_done_;
      writes_done_ = writes_done_ || close_now;
    }
    if (close_now) StartWritesDone();
  }

  void Cancel() { context_.TryCancel(); }

  void OnWriteDone(bool ok) override {
    const v1::ClassifyRequest* next = nullptr;
    bool close_now = false;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      if (!ok) {  // the stream is gone: what is queued will never be answered
        broken_ = true;
        queue_.clear();
      }
      if (!queue_.empty()) {
        next = &queue_.front().request;  // stable: deque push_back keeps references
      } else {
        writing_ = false;
        close_now = ok && closing_ && !writes_done_;
        writes_done_ = writes_done_ || close_now;
      }
    }
    if (next != nullptr) StartWrite(next);
    if (close_now) StartWritesDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the server finished (or the stream broke): OnDone follows
    owner_->OnStreamResponse(response_);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      std::fprintf(
          stderr, "ternserve-loadgen: a stream ended with %s: %s\n",
          absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())).c_str(),
          status.error_message().c_str());
    }
    owner_->open_streams_.fetch_sub(1, std::memory_order_acq_rel);
  }

 private:
  // A queued request; gives its borrowed pixels back before it is destroyed.
  struct Outgoing {
    v1::ClassifyRequest request;
    ~Outgoing() { request.unsafe_arena_release_pixels(); }
  };

  Loadgen* const owner_;
  grpc::ClientContext context_;
  v1::ClassifyResponse response_;  // the read chain's (one read at a time)

  absl::Mutex mu_;
  std::deque<Outgoing> queue_ ABSL_GUARDED_BY(mu_);  // front is being written if writing_
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool writes_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
};

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
  PlanOptions plan;
  plan.slo_mix = options.slo_mix;
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
  loadgen->pixels_.resize(static_cast<size_t>(images->count));
  std::vector<float> floats;
  for (int64_t i = 0; i < images->count; ++i) {
    floats.clear();
    images->AppendImageAsFloat(i, &floats);
    loadgen->pixels_[i].mutable_values()->Add(floats.begin(), floats.end());
  }
  return loadgen;
}

absl::Status Loadgen::Connect() {
  for (int i = 0; i < options_.connections; ++i) {
    // Distinct arguments and a local subchannel pool: each channel opens its own connection
    // instead of sharing one from the global pool.
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("ternserve.loadgen_connection", i);
    // No transparent retries: the retry filter buffers every request for a possible replay, a
    // per-call cost the load generator must not pay, and a retried call would hide an error.
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    channels_.push_back(
        grpc::CreateCustomChannel(options_.server, grpc::InsecureChannelCredentials(), args));
    stubs_.push_back(v1::Classifier::NewStub(channels_.back()));
  }
  const auto deadline =
      std::chrono::system_clock::now() + absl::ToChronoMilliseconds(options_.connect_timeout);
  grpc::ClientContext context;
  context.set_deadline(deadline);
  v1::ModelInfo info;
  const grpc::Status status = stubs_[0]->GetModelInfo(&context, v1::GetModelInfoRequest(), &info);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::UnavailableError(absl::StrCat(
        "cannot reach the server at ", options_.server, " (GetModelInfo within ",
        absl::FormatDuration(options_.connect_timeout),
        "): ", absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())), ": ",
        status.error_message()));
  }
  // Any other answer (even UNIMPLEMENTED) means a gRPC server is there.
  server_model_ = status.ok() ? info.model_name() : "unknown";
  for (size_t i = 0; i < channels_.size(); ++i) {
    if (!channels_[i]->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrCat("connection ", i + 1, " of ", channels_.size(),
                                                 " to ", options_.server, " did not come up"));
    }
  }
  if (options_.stream) {
    for (const auto& stub : stubs_) {
      open_streams_.fetch_add(1, std::memory_order_relaxed);
      streams_.push_back(std::make_unique<Stream>(this, stub.get()));
    }
  }
  return absl::OkStatus();
}

int64_t Loadgen::in_flight() const {
  return sent_.load(std::memory_order_acquire) - completed_.load(std::memory_order_acquire) +
         open_streams_.load(std::memory_order_acquire);
}

void Loadgen::Issue(RequestRecord* record, Clock::time_point now) {
  record->sent_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count();
  const int64_t connection = next_stub_;
  if (++next_stub_ == static_cast<int64_t>(stubs_.size())) next_stub_ = 0;
  if (options_.stream) {
    streams_[connection]->Send(&pixels_[record->image], *record, record - records_.data());
    return;
  }
  auto* call = new Call;
  call->record = record;
  call->request.unsafe_arena_set_allocated_pixels(&pixels_[record->image]);
  call->request.set_latency_slo_ms(record->slo_ms);
  call->request.set_top_k(1);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             absl::ToChronoNanoseconds(options_.timeout));
  stubs_[connection]->async()->Classify(
      &call->context, &call->request, &call->response,
      [this, call](grpc::Status status) { OnDone(call, status); });
}

void Loadgen::Record(RequestRecord& r, int32_t code, const v1::ClassifyResponse& response,
                     Clock::time_point now) {
  r.done_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - start_).count();
  r.code = code;
  if (code == 0) {
    r.correct = response.top_k_size() > 0 && response.top_k(0).class_id() == labels_[r.image];
    r.subnet_id = response.subnet().id();
    r.expected_accuracy = static_cast<float>(response.subnet().expected_accuracy());
    r.queue_us = response.queue_us();
    r.compute_us = response.compute_us();
    r.deadline_met = response.deadline_met();
    latency_.Record(r.done_ns - r.sent_ns);
    ok_.fetch_add(1, std::memory_order_relaxed);
  } else {
    errors_.fetch_add(1, std::memory_order_relaxed);
  }
}

void Loadgen::OnDone(Call* call, const grpc::Status& status) {
  Record(*call->record, static_cast<int32_t>(status.error_code()), call->response, Clock::now());
  delete call;
  // Publishes the record to Run's final read.
  completed_.fetch_add(1, std::memory_order_release);
}

void Loadgen::OnStreamResponse(const v1::ClassifyResponse& response) {
  const Clock::time_point now = Clock::now();
  int64_t index = -1;
  // A request is sent (sent_ is stored) after Issue returns, so its answer may come first: any
  // planned index is valid; a record answered twice is not.
  if (!absl::SimpleAtoi(response.request_id(), &index) || index < 0 || index >= planned() ||
      records_[index].code != RequestRecord::kNoResponse) {
    unmatched_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Record(records_[index], response.has_status() ? response.status().code() : 0, response, now);
  completed_.fetch_add(1, std::memory_order_release);
}

void Loadgen::CloseStreams(Clock::time_point give_up) {
  for (const auto& stream : streams_) stream->CloseWrites();
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
  for (const auto& stream : streams_) stream->Cancel();  // a no-op on a finished stream
  wait_until(Clock::now() + std::chrono::seconds(1));
}

LoadgenReport Loadgen::Run(const std::atomic<bool>* stop) {
  RunInfo info;
  info.trace = options_.trace;
  info.connections = options_.connections;
  info.mode = options_.stream ? "stream" : "unary";
  info.planned = planned();
  info.trace_duration_s = trace_duration_s_;
  if (stubs_.empty()) return Summarize({}, info);  // not connected: nothing sent
  // Sleeps of the pacing thread end within ~1 µs of the asked time instead of the default 50 µs
  // timer slack (Linux; harmless elsewhere).
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  start_ = Clock::now() + kStartDelay;
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
  finished.Notify();
  if (progress.joinable()) progress.join();

  info.max_send_lag_ms = std::chrono::duration<double, std::milli>(max_lag).count();
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
