// Engine speed specs and the speed model. See speed.h.
#include "scheduler/speed.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "scheduler/spec_params.h"
#include "util/text_file.h"

namespace ternserve {
namespace {

constexpr absl::string_view kSpeedHelp =
    "none | step:at=S,factor=F | ramp:from=F1,to=F2,start=S1,end=S2 | "
    "spells:factor=F,on_s=A,off_s=B | file:PATH";
constexpr double kMinFactor = 0.1, kMaxFactor = 100;
constexpr double kMaxTimeS = 1e9;

absl::Status SpeedError(absl::string_view spec, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("speed spec '", spec, "': ", problem, " (expected ", kSpeedHelp, ")"));
}

bool FactorInRange(double f) { return f >= kMinFactor && f <= kMaxFactor; }
bool TimeInRange(double s) { return s >= 0 && s <= kMaxTimeS; }

}  // namespace

absl::StatusOr<std::vector<std::pair<double, double>>> ParseSpeedFile(absl::string_view text,
                                                                      absl::string_view source) {
  std::vector<std::pair<double, double>> points;
  absl::Status status = ForEachRecord(
      text, source,
      [&](const std::vector<absl::string_view>& fields, const std::string& where) -> absl::Status {
        double time_s = 0, factor = 0;
        if (fields.size() != 2) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "expected '<time_s> <factor>', got ", fields.size(), " fields"));
        }
        if (!absl::SimpleAtod(fields[0], &time_s) || !TimeInRange(time_s)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "time '", fields[0], "' is not a number of s in [0, 1e9]"));
        }
        if (!absl::SimpleAtod(fields[1], &factor) || !FactorInRange(factor)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, "factor '", fields[1], "' is not a number in [0.1, 100]"));
        }
        if (!points.empty() && time_s <= points.back().first) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "time ", time_s, " is not after the previous line's ", points.back().first));
        }
        points.emplace_back(time_s, factor);
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  if (points.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": no speed points"));
  return points;
}

absl::StatusOr<SpeedSpec> ParseSpeedSpec(absl::string_view text) {
  SpeedSpec spec;
  spec.text = std::string(text);
  if (text == "none") return spec;
  const size_t colon = text.find(':');
  if (colon == absl::string_view::npos) return SpeedError(text, "missing ':' after the kind");
  const absl::string_view kind = text.substr(0, colon);
  const absl::string_view rest = text.substr(colon + 1);
  if (kind == "file") {
    if (rest.empty()) return SpeedError(text, "missing file path");
    const std::string path(rest);
    absl::StatusOr<std::string> content = ReadTextFile(path, "speed file");
    if (!content.ok()) return content.status();
    absl::StatusOr<std::vector<std::pair<double, double>>> points = ParseSpeedFile(*content, path);
    if (!points.ok()) return points.status();
    spec.kind = SpeedSpec::Kind::kFile;
    spec.points = *std::move(points);
    return spec;
  }
  std::vector<std::string> keys;
  if (kind == "step") {
    spec.kind = SpeedSpec::Kind::kStep;
    keys = {"at", "factor"};
  } else if (kind == "ramp") {
    spec.kind = SpeedSpec::Kind::kRamp;
    keys = {"from", "to", "start", "end"};
  } else if (kind == "spells") {
    spec.kind = SpeedSpec::Kind::kSpells;
    keys = {"factor", "on_s", "off_s"};
  } else {
    return SpeedError(text, absl::StrCat("unknown kind '", kind, "'"));
  }
  absl::StatusOr<std::map<std::string, double>> values = ParseSpecParameters(kind, rest, keys);
  if (!values.ok()) return SpeedError(text, values.status().message());
  std::map<std::string, double>& v = *values;
  switch (spec.kind) {
    case SpeedSpec::Kind::kStep:
      spec.at_s = v["at"];
      spec.factor = v["factor"];
      if (!TimeInRange(spec.at_s)) return SpeedError(text, "at must be in [0, 1e9] s");
      if (!FactorInRange(spec.factor)) return SpeedError(text, "factor must be in [0.1, 100]");
      break;
    case SpeedSpec::Kind::kRamp:
      spec.from = v["from"];
      spec.to = v["to"];
      spec.start_s = v["start"];
      spec.end_s = v["end"];
      if (!FactorInRange(spec.from) || !FactorInRange(spec.to)) {
        return SpeedError(text, "from and to must be in [0.1, 100]");
      }
      if (!TimeInRange(spec.start_s) || !TimeInRange(spec.end_s) || !(spec.end_s > spec.start_s)) {
        return SpeedError(text, "need 0 <= start < end <= 1e9 s");
      }
      break;
    case SpeedSpec::Kind::kSpells:
      spec.factor = v["factor"];
      spec.on_s = v["on_s"];
      spec.off_s = v["off_s"];
      if (!FactorInRange(spec.factor)) return SpeedError(text, "factor must be in [0.1, 100]");
      if (!(spec.on_s > 0 && spec.on_s <= kMaxTimeS && spec.off_s > 0 && spec.off_s <= kMaxTimeS)) {
        return SpeedError(text, "on_s and off_s must be in (0, 1e9] s");
      }
      break;
    case SpeedSpec::Kind::kNone:
    case SpeedSpec::Kind::kFile:
      break;
  }
  return spec;
}

SpeedModel::SpeedModel(const SpeedSpec& spec, uint64_t seed)
    : spec_(spec), rng_(seed ^ 0x5eed5eedULL) {
  if (spec_.kind == SpeedSpec::Kind::kSpells) {
    stretch_end_s_ = std::exponential_distribution<double>(1 / spec_.off_s)(rng_);
  }
}

double SpeedModel::FactorAt(absl::Duration t) {
  const double s = absl::ToDoubleSeconds(t);
  switch (spec_.kind) {
    case SpeedSpec::Kind::kNone:
      return 1;
    case SpeedSpec::Kind::kStep:
      return s < spec_.at_s ? 1 : spec_.factor;
    case SpeedSpec::Kind::kRamp: {
      if (s <= spec_.start_s) return spec_.from;
      if (s >= spec_.end_s) return spec_.to;
      const double x = (s - spec_.start_s) / (spec_.end_s - spec_.start_s);
      return spec_.from + x * (spec_.to - spec_.from);
    }
    case SpeedSpec::Kind::kSpells:
      while (s >= stretch_end_s_) {
        slow_ = !slow_;
        const double mean = slow_ ? spec_.on_s : spec_.off_s;
        stretch_end_s_ += std::exponential_distribution<double>(1 / mean)(rng_);
      }
      return slow_ ? spec_.factor : 1;
    case SpeedSpec::Kind::kFile:
      while (next_point_ < spec_.points.size() && spec_.points[next_point_].first <= s) {
        ++next_point_;
      }
      return next_point_ == 0 ? 1 : spec_.points[next_point_ - 1].second;
  }
  return 1;
}

}  // namespace ternserve
