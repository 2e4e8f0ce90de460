// Loadgen: an open-loop load generator for a Ternserve server (ternserve-loadgen).
//
// It replays an arrival trace (scheduler/trace.h specs, as ternserve-sim does) with real
// Fashion-MNIST test images, and reports what the client observed: latency, SLO attainment,
// measured top-1 accuracy, the sub-nets that answered. It speaks either API (LoadgenApi):
// ternserve.v1.Classifier or the Open Inference Protocol (loadgen_messages.h). Two modes, as
// perf_analyzer has:
//   - unary: one asynchronous call (Classify, ModelInfer) per request;
//   - stream: one stream (ClassifyStream, ModelStreamInfer) per connection, opened in Connect, each
//     request a message on it (its id is its index in the plan). A message costs both sides a
//     fraction of a unary call (no per-call set-up, headers or deadline timer), so this mode
//     measures the server's scheduling and compute rather than gRPC's per-call cost. A message
//     goes out with what is left of its SLO; one whose SLO runs out while it waits to be written
//     is answered DEADLINE_EXCEEDED by the load generator itself (loadgen_rpc.cc).
//
// Open loop: one pacing thread (the caller of Run) issues each request at its arrival time and
// never waits for responses; if it falls behind the trace it sends at once and records the lag.
// Requests round-robin over `connections` channels, each its own HTTP/2 connection. Every request
// has a preallocated RequestRecord (the plan); the completion (a unary callback, or the stream's
// read of the response), on a gRPC thread, writes only its own record and bumps atomic counters.
//
// Thread-compatible: one thread calls Connect then Run. The Loadgen must outlive every call it
// issued (Run waits for them; see in_flight()).
#ifndef TERNSERVE_CLIENT_LOADGEN_H_
#define TERNSERVE_CLIENT_LOADGEN_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/channel.h"
#include "client/loadgen_messages.h"
#include "client/loadgen_plan.h"
#include "client/loadgen_rpc.h"
#include "client/loadgen_stats.h"
#include "client/server_target.h"
#include "models/fashion_mnist.h"

namespace ternserve {

struct LoadgenOptions {
  // Server target (client/server_target.h): "127.0.0.1:8001", a list of replicas
  // "127.0.0.1:8001,127.0.0.1:8002", or "dns:///name:port". Calls go round-robin over the replicas
  // (unary mode: per request; stream mode: per stream).
  std::string server;
  // Attempts of one call (gRPC's retry policy for UNAVAILABLE, client/server_target.h), in
  // [1, kMaxCallAttempts]; 0 means 1 for a single server (every error is the server's, as it
  // answered) and kDefaultCallAttempts for replicas (a replica draining or gone is retried on
  // another).
  int max_attempts = 0;
  // TLS and the bearer token (client/channel.h); default plaintext, no token.
  ClientSecurity security;
  // Which API the requests use.
  LoadgenApi api = LoadgenApi::kTernserve;
  // OIP: the model every request names; empty means the server's only model (RepositoryIndex in
  // Connect). Unused by the ternserve API, which names no model.
  std::string model_name;
  // Arrival trace spec (see scheduler/trace.h).
  std::string trace;
  // SLOs of arrivals without their own (a file trace's SLO wins): one entry for --slo_ms.
  std::vector<SloMixEntry> slo_mix = {{50, 1}};
  // Accuracy floors (--floor_mix): each request asks for a sub-net at least this accurate with the
  // entry's probability (min_accuracy, or OIP's "min_accuracy" parameter). Empty: none.
  std::vector<FloorMixEntry> floor_mix;
  // Separate HTTP/2 connections (each channel gets distinct arguments and a local subchannel
  // pool), used round-robin. More spread the per-connection work over more of gRPC's threads.
  int connections = 4;
  // gRPC deadline of each unary call; also bounds the wait for stragglers at the end (the only use
  // in stream mode, where a message has no deadline of its own beyond its SLO).
  absl::Duration timeout = absl::Seconds(10);
  // Stream mode: one stream per connection instead of a unary call per request.
  bool stream = false;
  // Deadline of the reachability check and of each connection's set-up in Connect.
  absl::Duration connect_timeout = absl::Seconds(3);
  // Seeds the trace, the SLO mix and the image choice.
  uint64_t seed = 1;
  std::string images_path = std::string(kFashionMnistDir) + "/t10k-images-idx3-ubyte.gz";
  std::string labels_path = std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz";
  // A progress line on stderr every second (\r-updated on a TTY).
  bool progress = true;
};

class Loadgen final : private LoadgenSink {
 public:
  // Parses the trace, reads the images and labels, and plans every request. INVALID_ARGUMENT for
  // bad options or trace spec; NOT_FOUND or INVALID_ARGUMENT naming the file for unusable input.
  static absl::StatusOr<std::unique_ptr<Loadgen>> Create(const LoadgenOptions& options);
  ~Loadgen();

  // Asks the server for its model (LoadgenRpc::Handshake: GetModelInfo, or for the OIP
  // ModelMetadata / RepositoryIndex) and opens every connection (and, in stream mode, its stream)
  // within connect_timeout. UNAVAILABLE, saying what failed, when the server cannot be reached;
  // the handshake's own code (UNAUTHENTICATED, NOT_FOUND, ...) when it refused.
  absl::Status Connect();

  // Replays the plan, waits for every call (at most timeout + a grace period), and summarizes.
  // If `stop` becomes true, sending stops early and only the requests sent are reported.
  LoadgenReport Run(const std::atomic<bool>* stop = nullptr);

  int64_t planned() const { return static_cast<int64_t>(records_.size()); }
  // Requests sent so far; any thread, during Run too.
  int64_t sent() const { return sent_.load(std::memory_order_acquire); }
  // Every request of the plan, after Run: the sent ones with their results (sent_ns > 0).
  absl::Span<const RequestRecord> records() const { return records_; }
  // Requests sent but not answered, plus streams not yet finished (non-zero only if Run gave up
  // waiting): callbacks that may still run into this Loadgen.
  int64_t in_flight() const;
  // The model name the server reported in Connect.
  const std::string& server_model() const { return server_model_; }

 private:
  using Clock = std::chrono::steady_clock;

  explicit Loadgen(const LoadgenOptions& options);
  // 1 + the index of `peer` in backends_, added if new; 0 for an empty peer, or past 255 peers.
  uint8_t BackendOf(const std::string& peer);
  void Issue(RequestRecord* record, Clock::time_point now);
  // Fills `r` from its answer, received at `now`, and counts it completed.
  void Complete(RequestRecord& r, const LoadgenAnswer& answer, Clock::time_point now);
  // LoadgenSink, on gRPC threads.
  void OnAnswer(RequestRecord* record, const LoadgenAnswer& answer) override;
  void OnStreamAnswer(const LoadgenAnswer& answer) override;
  void OnStreamDone() override;
  // Stream mode: half-closes every stream, waits for them to finish until `give_up`, then cancels
  // what is left.
  void CloseStreams(Clock::time_point give_up);
  void ProgressLoop(absl::Notification* done);
  void PrintProgress(bool final);

  // Constant after Create / Connect.
  const LoadgenOptions options_;
  ServerTarget target_;
  int max_attempts_ = 1;
  double trace_duration_s_ = 0;
  std::vector<uint8_t> labels_;
  // The images as the API's messages; outlives the connections (declared first).
  std::unique_ptr<LoadgenRpc> rpc_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<LoadgenConnection>> connections_;
  // Stream mode: OnStreamDone counts a stream out.
  std::atomic<int> open_streams_{0};
  std::string server_model_;
  Clock::time_point start_;

  // One slot per request: the pacing thread writes sent_ns, the call's callback the results.
  std::vector<RequestRecord> records_;
  // Pacing thread only.
  int64_t next_connection_ = 0;
  // Written by the pacing thread, read by everyone.
  std::atomic<int64_t> sent_{0};
  // Written by completion callbacks.
  std::atomic<int64_t> completed_{0};
  std::atomic<int64_t> ok_{0};
  std::atomic<int64_t> errors_{0};
  // Stream responses whose id names no request sent, or one already answered.
  std::atomic<int64_t> unmatched_{0};
  // Answers that came back OK but could not be read (recorded as INTERNAL), and the first reason.
  std::atomic<int64_t> unreadable_{0};
  absl::Mutex unreadable_mu_;
  std::string first_unreadable_ ABSL_GUARDED_BY(unreadable_mu_);
  LatencyHistogram latency_;
  // The replicas that answered, by peer address, in order of first answer (RequestRecord::backend).
  absl::Mutex backends_mu_;
  std::vector<std::string> backends_ ABSL_GUARDED_BY(backends_mu_);
  // Progress thread only.
  int64_t progress_last_ok_ = 0;
  Clock::time_point progress_last_time_;
};

}  // namespace ternserve

#endif  // TERNSERVE_CLIENT_LOADGEN_H_
