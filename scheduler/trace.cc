// Trace specs and arrival generators. See trace.h.
#include "scheduler/trace.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "scheduler/spec_params.h"
#include "util/text_file.h"

namespace ternserve {
namespace {

constexpr absl::string_view kSpecHelp =
    "poisson:rate=R,duration=S | gamma:rate=R,cv2=C,duration=S | ramp:from=R1,to=R2,duration=S "
    "| mmpp:calm=R1,burst=R2,calm_s=A,burst_s=B,duration=S | file:PATH";

// A field of a trace file as an error message quotes it: C-escaped (a binary file must not write
// control bytes to the terminal) and cut to a readable length.
std::string Quoted(absl::string_view field) {
  constexpr size_t kMaxChars = 40;
  return absl::StrCat("'", absl::CHexEscape(field.substr(0, kMaxChars)),
                      field.size() > kMaxChars ? "...'" : "'");
}

constexpr double kMaxDurationS = 1e9;
constexpr double kMaxCv2 = 1000;

absl::Status SpecError(absl::string_view spec, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("trace spec '", spec, "': ", problem, " (expected ", kSpecHelp, ")"));
}

// Inter-arrival generator: time advances by `gap()` seconds per arrival until `duration_s`.
template <typename Gap>
class GeneratedSource final : public ArrivalSource {
 public:
  GeneratedSource(double duration_s, Gap gap) : duration_s_(duration_s), gap_(std::move(gap)) {}
  bool Next(Arrival* arrival) override {
    for (;;) {
      bool accept = true;
      t_s_ += gap_(t_s_, &accept);
      if (t_s_ >= duration_s_) return false;
      if (!accept) continue;
      // Integer nanoseconds: absl::Seconds(double) costs several times more per arrival.
      arrival->time = absl::Nanoseconds(static_cast<int64_t>(t_s_ * 1e9));
      arrival->slo = absl::ZeroDuration();
      return true;
    }
  }

 private:
  const double duration_s_;
  Gap gap_;
  double t_s_ = 0;
};

template <typename Gap>
std::unique_ptr<ArrivalSource> MakeSource(double duration_s, Gap gap) {
  return std::make_unique<GeneratedSource<Gap>>(duration_s, std::move(gap));
}

class ListSource final : public ArrivalSource {
 public:
  explicit ListSource(std::vector<Arrival> arrivals) : arrivals_(std::move(arrivals)) {}
  bool Next(Arrival* arrival) override {
    if (next_ >= arrivals_.size()) return false;
    *arrival = arrivals_[next_++];
    return true;
  }

 private:
  std::vector<Arrival> arrivals_;
  size_t next_ = 0;
};

absl::StatusOr<std::unique_ptr<ArrivalSource>> OpenFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path, "trace file");
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<Arrival>> arrivals = ParseTraceFile(*text, path);
  if (!arrivals.ok()) return arrivals.status();
  return ListTrace(*std::move(arrivals));
}

}  // namespace

absl::StatusOr<TraceSpec> ParseTraceSpec(absl::string_view spec) {
  TraceSpec trace;
  const size_t colon = spec.find(':');
  if (colon == absl::string_view::npos) return SpecError(spec, "missing ':' after the kind");
  const absl::string_view kind = spec.substr(0, colon);
  const absl::string_view rest = spec.substr(colon + 1);
  if (kind == "file") {
    if (rest.empty()) return SpecError(spec, "missing file path");
    trace.kind = TraceSpec::Kind::kFile;
    trace.path = std::string(rest);
    return trace;
  }
  std::vector<std::string> keys;
  if (kind == "poisson") {
    trace.kind = TraceSpec::Kind::kPoisson;
    keys = {"rate", "duration"};
  } else if (kind == "gamma") {
    trace.kind = TraceSpec::Kind::kGamma;
    keys = {"rate", "cv2", "duration"};
  } else if (kind == "ramp") {
    trace.kind = TraceSpec::Kind::kRamp;
    keys = {"from", "to", "duration"};
  } else if (kind == "mmpp") {
    trace.kind = TraceSpec::Kind::kMmpp;
    keys = {"calm", "burst", "calm_s", "burst_s", "duration"};
  } else {
    return SpecError(spec, absl::StrCat("unknown kind '", kind, "'"));
  }
  absl::StatusOr<std::map<std::string, double>> parsed = ParseSpecParameters(kind, rest, keys);
  if (!parsed.ok()) return SpecError(spec, parsed.status().message());
  std::map<std::string, double>& values = *parsed;
  trace.duration_s = values["duration"];
  if (!(trace.duration_s > 0)) return SpecError(spec, "duration must be > 0");
  // Arrival times are int64 nanoseconds (about 292 years).
  if (trace.duration_s > kMaxDurationS) {
    return SpecError(spec, "duration must be at most 1e9 s (about 31 years)");
  }
  switch (trace.kind) {
    case TraceSpec::Kind::kGamma:
      trace.cv2 = values["cv2"];
      // Gamma gaps have shape 1 / cv2; past ~1000 nearly every gap underflows to 0 and the trace
      // never advances (ternserve-sim and ternserve-loadgen would plan arrivals at t = 0 forever).
      if (!(trace.cv2 > 0 && trace.cv2 <= kMaxCv2)) {
        return SpecError(spec, "cv2 must be in (0, 1000]");
      }
      [[fallthrough]];
    case TraceSpec::Kind::kPoisson:
      trace.rate = values["rate"];
      if (!(trace.rate > 0)) return SpecError(spec, "rate must be > 0");
      break;
    case TraceSpec::Kind::kRamp:
      trace.from = values["from"];
      trace.to = values["to"];
      if (trace.from < 0 || trace.to < 0 || !(trace.from + trace.to > 0)) {
        return SpecError(spec, "from and to must be >= 0 and not both 0");
      }
      break;
    case TraceSpec::Kind::kMmpp:
      trace.calm = values["calm"];
      trace.burst = values["burst"];
      trace.calm_s = values["calm_s"];
      trace.burst_s = values["burst_s"];
      if (trace.calm < 0 || trace.burst < 0 || !(trace.calm + trace.burst > 0)) {
        return SpecError(spec, "calm and burst must be >= 0 and not both 0");
      }
      if (!(trace.calm_s > 0 && trace.burst_s > 0)) {
        return SpecError(spec, "calm_s and burst_s must be > 0");
      }
      if (trace.calm_s > kMaxDurationS || trace.burst_s > kMaxDurationS) {
        return SpecError(spec, "calm_s and burst_s must be at most 1e9 s");
      }
      break;
    case TraceSpec::Kind::kFile:
      break;
  }
  return trace;
}

double TraceMeanRate(const TraceSpec& spec) {
  switch (spec.kind) {
    case TraceSpec::Kind::kPoisson:
    case TraceSpec::Kind::kGamma:
      return spec.rate;
    case TraceSpec::Kind::kRamp:
      return (spec.from + spec.to) / 2;
    case TraceSpec::Kind::kMmpp:
      // The chain spends calm_s / (calm_s + burst_s) of its time calm.
      return (spec.calm * spec.calm_s + spec.burst * spec.burst_s) / (spec.calm_s + spec.burst_s);
    case TraceSpec::Kind::kFile:
      return 0;
  }
  return 0;
}

absl::StatusOr<std::vector<Arrival>> ParseTraceFile(absl::string_view text,
                                                    absl::string_view source) {
  std::vector<Arrival> arrivals;
  double last_us = 0;
  absl::Status status = ForEachRecord(
      text, source,
      [&](const std::vector<absl::string_view>& fields, const std::string& where) -> absl::Status {
        double time_us = 0;
        if (fields.size() > 2) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "expected '<arrival_us> [<slo_ms>]', got ", fields.size(), " fields"));
        }
        // At most the longest spec duration: later times would not fit the arrivals' int64 ns.
        if (!absl::SimpleAtod(fields[0], &time_us) ||
            !(time_us >= 0 && time_us <= kMaxDurationS * 1e6)) {
          return absl::InvalidArgumentError(absl::StrCat(where, "arrival time ", Quoted(fields[0]),
                                                         " is not a number of µs in [0, 1e15]"));
        }
        if (time_us < last_us) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "arrival time ", time_us, " is earlier than the previous line's ", last_us));
        }
        last_us = time_us;
        Arrival arrival;
        arrival.time = absl::Microseconds(time_us);
        if (fields.size() == 2) {
          double slo_ms = 0;
          if (!absl::SimpleAtod(fields[1], &slo_ms) || !std::isfinite(slo_ms) || !(slo_ms > 0)) {
            return absl::InvalidArgumentError(
                absl::StrCat(where, "SLO ", Quoted(fields[1]), " is not a number of ms > 0"));
          }
          arrival.slo = absl::Microseconds(slo_ms * 1000);
        }
        arrivals.push_back(arrival);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return arrivals;
}

std::unique_ptr<ArrivalSource> ListTrace(std::vector<Arrival> arrivals) {
  return std::make_unique<ListSource>(std::move(arrivals));
}

absl::StatusOr<std::unique_ptr<ArrivalSource>> OpenTrace(const TraceSpec& spec, uint64_t seed) {
  std::mt19937_64 rng(seed);
  switch (spec.kind) {
    case TraceSpec::Kind::kPoisson:
      return MakeSource(spec.duration_s,
                        [rng, gap = std::exponential_distribution<double>(spec.rate)](
                            double, bool*) mutable { return gap(rng); });
    case TraceSpec::Kind::kGamma:
      // Mean 1/rate and variance cv2/rate^2: shape 1/cv2, scale cv2/rate.
      return MakeSource(spec.duration_s, [rng, gap = std::gamma_distribution<double>(
                                                   1 / spec.cv2, spec.cv2 / spec.rate)](
                                             double, bool*) mutable { return gap(rng); });
    case TraceSpec::Kind::kRamp: {
      // Thinning (Lewis & Shedler 1979): candidates at the peak rate, each kept with
      // probability rate(t) / peak.
      const double peak = std::max(spec.from, spec.to);
      const double from = spec.from;
      const double slope = (spec.to - spec.from) / spec.duration_s;
      return MakeSource(spec.duration_s, [rng, gap = std::exponential_distribution<double>(peak),
                                          keep = std::uniform_real_distribution<double>(0, 1), peak,
                                          from, slope](double t_s, bool* accept) mutable {
        const double dt = gap(rng);
        *accept = keep(rng) * peak < from + slope * (t_s + dt);
        return dt;
      });
    }
    case TraceSpec::Kind::kMmpp: {
      // Exact switching: a gap that would cross the end of the state's visit stops there (an
      // arrival not taken) and the next gap is drawn afresh at the new state's rate, which the
      // exponential's memorylessness makes exact.
      std::exponential_distribution<double> unit(1.0);
      const double calm_end_s = unit(rng) * spec.calm_s;
      return MakeSource(spec.duration_s, [rng, unit, spec, in_burst = false, end_s = calm_end_s](
                                             double t_s, bool* accept) mutable {
        const double rate = in_burst ? spec.burst : spec.calm;
        // A state at rate 0 has no arrivals: straight to its end.
        const double dt = rate > 0 ? unit(rng) / rate : HUGE_VAL;
        if (t_s + dt < end_s) return dt;
        *accept = false;
        // Never negative: t_s + (end_s - t_s) may round an ulp past end_s.
        const double to_end_s = std::max(0.0, end_s - t_s);
        in_burst = !in_burst;
        end_s += unit(rng) * (in_burst ? spec.burst_s : spec.calm_s);
        return to_end_s;
      });
    }
    case TraceSpec::Kind::kFile:
      return OpenFile(spec.path);
  }
  return absl::InternalError("unknown trace kind");
}

}  // namespace ternserve
