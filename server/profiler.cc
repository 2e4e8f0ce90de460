// Latency profiling: the dispatcher's own overhead, then every (sub-net, batch) cell on all
// engines at once, in interleaved rounds. See profiler.h.
//
// Durations are read from std::chrono::steady_clock, not from an injected Clock: a profiler exists
// to measure real elapsed time, and a monotonic clock cannot be moved by NTP mid-sample.
#include "server/profiler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "models/arch.h"
#include "scheduler/clock.h"
#include "scheduler/dispatcher.h"

namespace ternserve {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Round trips for the overhead: at least this many however short its time slice, and no more than
// the cap (a p99 of a few thousand samples is already steady).
constexpr int kMinRoundTrips = 100;
constexpr int kMaxRoundTrips = 5000;
// Every cell is visited in this many rounds, each with 1/kRounds of its share (the last round gets
// what is left of it), so a burst of load from elsewhere on the machine (a build, a cron job)
// spreads over all cells instead of inflating a run of consecutive ones (e.g. one sub-net's small
// batches above its large ones).
constexpr int kRounds = 4;
// A cell stops here even inside its share: a p99 of a million samples is steady, and the samples
// of a near-free engine would otherwise grow without bound.
constexpr int kMaxRunsPerCell = 1000000;
// Share of the budget (capped) spent on the overhead measurement.
constexpr double kOverheadBudgetShare = 0.02;
constexpr absl::Duration kMaxOverheadBudget = absl::Milliseconds(500);

double MicrosecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double, std::micro>(SteadyClock::now() - start).count();
}

// Nearest-rank percentile of `sorted` (ascending, non-empty); q in (0, 1].
double Percentile(const std::vector<double>& sorted, double q) {
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

// p50/p99 of `samples`, kept > 0 (a validated profile needs it; a no-op can read as 0 µs).
BatchLatency Summarize(int batch, std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  constexpr double kFloorUs = 1e-3;
  BatchLatency latency;
  latency.batch = batch;
  latency.p50_us = std::max(Percentile(samples, 0.50), kFloorUs);
  latency.p99_us = std::max(Percentile(samples, 0.99), latency.p50_us);
  return latency;
}

std::string FormatLatency(double us) {
  return us < 1000 ? absl::StrFormat("%.1f us", us) : absl::StrFormat("%.2f ms", us / 1000);
}

absl::Status CheckArguments(const Bundle& bundle, const std::vector<Engine*>& engines, int threads,
                            const ProfilerOptions& options) {
  if (engines.empty()) return absl::InvalidArgumentError("profiler: no engines");
  for (size_t w = 0; w < engines.size(); ++w) {
    if (engines[w] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("profiler: engine ", w, " is null"));
    }
    if (engines[w]->name() != engines[0]->name()) {
      return absl::InvalidArgumentError(absl::StrCat("profiler: engine ", w, " is ",
                                                     engines[w]->name(), ", engine 0 is ",
                                                     engines[0]->name()));
    }
  }
  if (bundle.metadata().subnets.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(bundle.source(), ": no sub-nets to profile"));
  }
  if (threads < 0) return absl::InvalidArgumentError("profiler: threads must be >= 0");
  const std::vector<int>& batches = options.batches;
  if (batches.empty() || batches[0] != 1) {
    return absl::InvalidArgumentError("profiler: batches must start at 1");
  }
  for (size_t i = 1; i < batches.size(); ++i) {
    if (batches[i] <= batches[i - 1]) {
      return absl::InvalidArgumentError("profiler: batches must strictly increase");
    }
  }
  if (options.budget <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("profiler: budget must be positive");
  }
  if (options.min_iterations < 1) {
    return absl::InvalidArgumentError("profiler: min_iterations must be >= 1");
  }
  return absl::OkStatus();
}

// Fixed pseudo-random pixels: the kernels' cost does not depend on values, but zeros could let
// a future engine take shortcuts that real images would not.
std::vector<float> ProfileImages(int max_batch) {
  std::mt19937 rng(20240229);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> images(static_cast<size_t>(max_batch) * kImagePixels);
  for (float& p : images) p = pixel(rng);
  return images;
}

// Runs one visit of a cell on every engine at once, each on its own thread: one untimed warm-up
// run each if `warm_up`, then timed runs until `share` has passed since the visit began and
// `min_runs` timed runs (over all engines) are done; past min_runs, also once `max_runs` are.
// Appends the timed runs' latencies (µs) to `samples`; sets `*warm_up_us` to the slowest engine's
// warm-up (0 without one).
absl::Status MeasureCell(const std::vector<Engine*>& engines, const SubnetMeta& subnet, int batch,
                         absl::Span<const float> images, absl::Duration share, int min_runs,
                         int max_runs, bool warm_up, std::vector<double>* samples,
                         double* warm_up_us) {
  const size_t workers = engines.size();
  const auto end = SteadyClock::now() + absl::ToChronoNanoseconds(share);
  std::vector<std::vector<double>> worker_samples(workers);
  std::vector<absl::Status> errors(workers);
  std::vector<double> warm_ups_us(workers, 0.0);
  std::atomic<int> timed_runs{0};
  std::atomic<bool> failed{false};

  auto work = [&](size_t w) {
    Engine* engine = engines[w];
    const absl::Span<const float> input = images.subspan(0, size_t(batch) * kImagePixels);
    absl::Status status;
    if (warm_up) {
      const SteadyClock::time_point start = SteadyClock::now();
      status = engine->Run(subnet.id, input, batch).status();
      warm_ups_us[w] = MicrosecondsSince(start);
    }
    while (status.ok() && !failed.load()) {
      const int runs = timed_runs.load();
      if (runs >= min_runs && (runs >= max_runs || SteadyClock::now() >= end)) return;
      const SteadyClock::time_point start = SteadyClock::now();
      status = engine->Run(subnet.id, input, batch).status();
      if (status.ok()) {
        worker_samples[w].push_back(MicrosecondsSince(start));
        timed_runs.fetch_add(1);
      }
    }
    if (!status.ok()) {
      errors[w] = status;
      failed.store(true);
    }
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, w);
  work(0);
  for (std::thread& t : threads) t.join();

  for (size_t w = 0; w < workers; ++w) {
    if (!errors[w].ok()) {
      return absl::Status(
          errors[w].code(),
          absl::StrCat("profiling sub-net ", subnet.id, " (", subnet.name, ") batch ", batch,
                       " on engine ", w, ": ", errors[w].message()));
    }
  }
  for (const std::vector<double>& s : worker_samples) {
    samples->insert(samples->end(), s.begin(), s.end());
  }
  *warm_up_us = *std::max_element(warm_ups_us.begin(), warm_ups_us.end());
  return absl::OkStatus();
}

// A BatchProcessor with no model: done at once.
class NoopProcessor final : public BatchProcessor {
 public:
  absl::Status ProcessBatch(int /*worker*/, int /*subnet_id*/,
                            absl::Span<Task* const> /*batch*/) override {
    return absl::OkStatus();
  }
};

// One round trip: Finish records the status and wakes the measuring thread.
class RoundTripTask final : public Task {
 public:
  RoundTripTask(absl::Time arrival, absl::Status* status, absl::Notification* done)
      : Task(arrival, arrival + absl::Hours(1)), status_(status), done_(done) {}
  void Finish(const TaskOutcome& outcome) override {
    *status_ = outcome.status;
    done_->Notify();
  }

 private:
  absl::Status* const status_;
  absl::Notification* const done_;
};

// p50/p99 round trip of one request through a real Dispatcher with `workers` idle workers:
// Enqueue, a worker's wake-up, the dispatch step, completion and the caller's wake-up.
absl::StatusOr<BatchLatency> MeasureOverhead(int workers, int subnet_id, absl::Duration duration) {
  NoopProcessor processor;
  DispatcherOptions options;
  options.workers = workers;
  options.max_batch = 1;
  options.subnet_id = subnet_id;
  Dispatcher dispatcher(options, &processor, RealClock::Get());
  std::vector<double> samples;
  const auto end = SteadyClock::now() + absl::ToChronoNanoseconds(duration);
  while (samples.size() < size_t{kMaxRoundTrips} &&
         (samples.size() < size_t{kMinRoundTrips} || SteadyClock::now() < end)) {
    absl::Notification done;
    absl::Status status;
    std::unique_ptr<Task> task =
        std::make_unique<RoundTripTask>(RealClock::Get()->Now(), &status, &done);
    const SteadyClock::time_point start = SteadyClock::now();
    if (absl::Status queued = dispatcher.Enqueue(&task); !queued.ok()) return queued;
    done.WaitForNotification();
    samples.push_back(MicrosecondsSince(start));
    if (!status.ok()) return status;
  }
  dispatcher.Drain();
  return Summarize(1, std::move(samples));
}

}  // namespace

absl::StatusOr<LatencyProfile> MeasureLatencyProfile(const Bundle& bundle,
                                                     const std::vector<Engine*>& engines,
                                                     const std::string& isa, int threads,
                                                     const ProfilerOptions& options) {
  if (absl::Status valid = CheckArguments(bundle, engines, threads, options); !valid.ok()) {
    return valid;
  }
  const BundleMetadata& metadata = bundle.metadata();
  auto report = [&](const std::string& line) {
    if (options.progress) options.progress(line);
  };

  LatencyProfile profile;
  profile.bundle_name = metadata.model_name;
  profile.bundle_path = bundle.source();
  profile.bundle_checksum = bundle.checksum();
  profile.engine = engines[0]->name();
  profile.isa = isa;
  profile.workers = static_cast<int>(engines.size());
  profile.threads = threads;

  const absl::Duration overhead_budget =
      std::min(options.budget * kOverheadBudgetShare, kMaxOverheadBudget);
  absl::StatusOr<BatchLatency> overhead =
      MeasureOverhead(profile.workers, bundle.LargestSubnet().id, overhead_budget);
  if (!overhead.ok()) return overhead.status();
  profile.overhead_us = overhead->p99_us;
  report(absl::StrCat("dispatch overhead (", profile.workers, " workers, no-op batch): p50 ",
                      FormatLatency(overhead->p50_us), " p99 ", FormatLatency(overhead->p99_us)));

  const std::vector<SubnetMeta>& subnets = metadata.subnets;
  const size_t batches = options.batches.size();
  const int cells = static_cast<int>(subnets.size() * batches);
  const absl::Duration cell_share = (options.budget - overhead_budget) / cells;
  const absl::Duration visit_share = cell_share / kRounds;
  const std::vector<float> images = ProfileImages(options.batches.back());
  std::vector<std::vector<double>> samples(static_cast<size_t>(cells));
  std::vector<BatchLatency> latencies(static_cast<size_t>(cells));
  std::vector<absl::Duration> spent(static_cast<size_t>(cells));
  std::vector<double> run_estimate_us(static_cast<size_t>(cells));  // mean run, else warm-up
  const SteadyClock::time_point start = SteadyClock::now();
  int visits = 0;
  auto eta_s = [&] { return MicrosecondsSince(start) / 1e6 / visits * (cells * kRounds - visits); };
  for (int round = 0; round < kRounds; ++round) {
    const bool last = round == kRounds - 1;
    for (size_t s = 0; s < subnets.size(); ++s) {
      for (size_t b = 0; b < batches; ++b) {
        const size_t c = s * batches + b;
        const int batch = options.batches[b];
        std::vector<double>& cell = samples[c];
        ++visits;
        // A run that does not fit a visit waits for the last round, so a slow cell costs its
        // warm-up plus min_iterations runs, not a run per round.
        if (round > 0 && !last && run_estimate_us[c] > absl::ToDoubleMicroseconds(visit_share)) {
          continue;
        }
        const int have = static_cast<int>(cell.size());
        const int min_runs = last ? std::max(have == 0 ? 1 : 0, options.min_iterations - have) : 0;
        const absl::Duration slice =
            last ? std::max(cell_share - spent[c], absl::ZeroDuration()) : visit_share;
        const SteadyClock::time_point visit_start = SteadyClock::now();
        double warm_up_us = 0;
        if (absl::Status measured =
                MeasureCell(engines, subnets[s], batch, images, slice, min_runs,
                            kMaxRunsPerCell / kRounds, /*warm_up=*/round == 0, &cell, &warm_up_us);
            !measured.ok()) {
          return measured;
        }
        spent[c] += absl::Microseconds(MicrosecondsSince(visit_start));
        run_estimate_us[c] = cell.empty() ? warm_up_us
                                          : std::accumulate(cell.begin(), cell.end(), 0.0) /
                                                static_cast<double>(cell.size());
        if (!last) continue;
        const BatchLatency& latency = latencies[c] = Summarize(batch, cell);
        report(absl::StrFormat("profiling %d/%d: %s batch %d: p50 %s p99 %s, ETA %.0fs",
                               static_cast<int>(c) + 1, cells, subnets[s].name, batch,
                               FormatLatency(latency.p50_us), FormatLatency(latency.p99_us),
                               eta_s()));
      }
    }
    if (!last) {
      report(absl::StrFormat("profiling round %d/%d of %d cells done, ETA %.0fs", round + 1,
                             kRounds, cells, eta_s()));
    }
  }
  for (size_t s = 0; s < subnets.size(); ++s) {
    SubnetLatency& row = profile.subnets.emplace_back();
    row.id = subnets[s].id;
    row.name = subnets[s].name;
    row.accuracy = subnets[s].test_accuracy;
    for (size_t b = 0; b < batches; ++b) {
      row.batches.push_back(latencies[s * batches + b]);
    }
  }
  if (absl::Status valid = ValidateLatencyProfile(profile, "measured profile"); !valid.ok()) {
    return valid;
  }
  return profile;
}

absl::StatusOr<LatencyProfile> MatchProfileToBundle(LatencyProfile profile, const std::string& path,
                                                    const Bundle& bundle) {
  const std::string rerun = absl::StrCat("; re-run ternserve-profile --bundle=", bundle.source());
  if (profile.bundle_checksum != bundle.checksum()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "profile ", path, " was measured on bundle ", profile.bundle_path, " (checksum ",
        profile.bundle_checksum.empty() ? "none" : profile.bundle_checksum, "), not on ",
        bundle.source(), " (checksum ", bundle.checksum(), ")", rerun));
  }
  for (SubnetLatency& s : profile.subnets) {
    const SubnetMeta* meta = bundle.FindSubnet(s.id);
    if (meta == nullptr || meta->name != s.name) {
      return absl::FailedPreconditionError(absl::StrCat("profile ", path, ": sub-net ", s.id, " (",
                                                        s.name, ") is not in bundle ",
                                                        bundle.source(), rerun));
    }
    s.accuracy = meta->test_accuracy;
  }
  for (const SubnetMeta& meta : bundle.metadata().subnets) {
    if (profile.Find(meta.id) == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("profile ", path, ": no latencies for sub-net ", meta.id, " (", meta.name,
                       ") of bundle ", bundle.source(), rerun));
    }
  }
  return profile;
}

}  // namespace ternserve
