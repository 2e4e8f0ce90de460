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

namespace ternserve {
namespace {

constexpr absl::string_view kSpecHelp =
    "poisson:rate=R,duration=S | gamma:rate=R,cv2=C,duration=S | ramp:from=R1,to=R2,duration=S "
    "| file:PATH";

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
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open trace file"));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  absl::StatusOr<std::vector<Arrival>> arrivals = ParseTraceFile(text.str(), path);
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
  } else {
    return SpecError(spec, absl::StrCat("unknown kind '", kind, "'"));
  }
  std::map<std::string, double> values;
  for (absl::string_view pair : absl::StrSplit(rest, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    const std::string key(kv.first);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      return SpecError(spec, absl::StrCat("unknown parameter '", key, "' for ", kind));
    }
    double value = 0;
    if (!absl::SimpleAtod(kv.second, &value) || !std::isfinite(value)) {
      return SpecError(spec, absl::StrCat(key, "='", kv.second, "' is not a number"));
    }
    if (!values.emplace(key, value).second) {
      return SpecError(spec, absl::StrCat(key, " given twice"));
    }
  }
  for (const std::string& key : keys) {
    if (values.count(key) == 0) return SpecError(spec, absl::StrCat("missing ", key, "="));
  }
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
    case TraceSpec::Kind::kFile:
      break;
  }
  return trace;
}

absl::StatusOr<std::vector<Arrival>> ParseTraceFile(absl::string_view text,
                                                    absl::string_view source) {
  std::vector<Arrival> arrivals;
  double last_us = 0;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t,"), absl::SkipWhitespace());
    if (fields.empty()) continue;
    const std::string where = absl::StrCat(source, ":", line_number, ": ");
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
  }
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
    case TraceSpec::Kind::kFile:
      return OpenFile(spec.path);
  }
  return absl::InternalError("unknown trace kind");
}

}  // namespace ternserve
