// Latency profile: validation, JSON parsing and saving. See latency_profile.h.
#include "scheduler/latency_profile.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "util/text_file.h"

namespace ternserve {
namespace {

using json = nlohmann::json;

constexpr char kFormat[] = "ternserve-latency-profile";
constexpr int kVersion = 1;

absl::Status FieldError(absl::string_view source, absl::string_view field,
                        absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, ": ", problem));
}

// Reads typed fields of one JSON object, naming "<source>: <path>.<key>" in errors.
class FieldReader {
 public:
  FieldReader(const json& object, absl::string_view source, std::string path)
      : object_(object), source_(source), path_(std::move(path)) {}

  std::string Path(absl::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }

  absl::StatusOr<const json*> Get(absl::string_view key) const {
    auto it = object_.find(std::string(key));
    if (it == object_.end()) return FieldError(source_, Path(key), "missing");
    return &*it;
  }
  absl::StatusOr<double> Number(absl::string_view key) const {
    absl::StatusOr<const json*> v = Get(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_number()) return FieldError(source_, Path(key), "must be a number");
    return (*v)->get<double>();
  }
  absl::StatusOr<int> Int(absl::string_view key) const {
    absl::StatusOr<const json*> v = Get(key);
    if (!v.ok()) return v.status();
    if (!(*v)->is_number_integer()) return FieldError(source_, Path(key), "must be an integer");
    const auto value = (*v)->get<long long>();
    if (value < -(1LL << 30) || value > (1LL << 30)) {
      return FieldError(source_, Path(key), "out of range");
    }
    return static_cast<int>(value);
  }
  // Optional string: "" when absent.
  absl::StatusOr<std::string> String(absl::string_view key, bool required) const {
    auto it = object_.find(std::string(key));
    if (it == object_.end()) {
      if (required) return FieldError(source_, Path(key), "missing");
      return std::string();
    }
    if (!it->is_string()) return FieldError(source_, Path(key), "must be a string");
    return it->get<std::string>();
  }

 private:
  const json& object_;
  absl::string_view source_;
  std::string path_;
};

#define TS_ASSIGN_OR_RETURN(lhs, expr)          \
  do {                                          \
    auto _result = (expr);                      \
    if (!_result.ok()) return _result.status(); \
    lhs = *std::move(_result);                  \
  } while (0)

absl::StatusOr<SubnetLatency> ParseSubnet(const json& j, absl::string_view source,
                                          const std::string& path) {
  if (!j.is_object()) return FieldError(source, path, "must be an object");
  FieldReader r(j, source, path);
  SubnetLatency subnet;
  TS_ASSIGN_OR_RETURN(subnet.id, r.Int("id"));
  TS_ASSIGN_OR_RETURN(subnet.name, r.String("name", /*required=*/false));
  TS_ASSIGN_OR_RETURN(subnet.accuracy, r.Number("accuracy"));
  const json* batches = nullptr;
  TS_ASSIGN_OR_RETURN(batches, r.Get("batches"));
  if (!batches->is_array()) return FieldError(source, r.Path("batches"), "must be an array");
  for (size_t i = 0; i < batches->size(); ++i) {
    const std::string bpath = absl::StrCat(r.Path("batches"), "[", i, "]");
    const json& b = (*batches)[i];
    if (!b.is_object()) return FieldError(source, bpath, "must be an object");
    FieldReader br(b, source, bpath);
    BatchLatency latency;
    TS_ASSIGN_OR_RETURN(latency.batch, br.Int("batch"));
    TS_ASSIGN_OR_RETURN(latency.p50_us, br.Number("p50_us"));
    TS_ASSIGN_OR_RETURN(latency.p99_us, br.Number("p99_us"));
    subnet.batches.push_back(latency);
  }
  return subnet;
}

// Linear interpolation of `field` over the profiled batches.
template <typename Field>
double Interpolate(const SubnetLatency& subnet, int batch, Field field) {
  const std::vector<BatchLatency>& b = subnet.batches;
  if (b.empty()) return 0;
  if (b.size() == 1) return field(b[0]) * batch / b[0].batch;
  size_t hi = 1;
  while (hi + 1 < b.size() && b[hi].batch < batch) ++hi;
  const BatchLatency& lo_point = b[hi - 1];
  const BatchLatency& hi_point = b[hi];
  if (batch <= lo_point.batch) return field(lo_point);
  const double t = static_cast<double>(batch - lo_point.batch) / (hi_point.batch - lo_point.batch);
  return field(lo_point) + t * (field(hi_point) - field(lo_point));
}

}  // namespace

const SubnetLatency* LatencyProfile::Find(int id) const {
  for (const SubnetLatency& subnet : subnets) {
    if (subnet.id == id) return &subnet;
  }
  return nullptr;
}

int LatencyProfile::FastestIndex() const {
  int best = -1;
  for (size_t i = 0; i < subnets.size(); ++i) {
    if (best < 0 || P99Us(subnets[i], 1) < P99Us(subnets[static_cast<size_t>(best)], 1)) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

int LatencyProfile::MostAccurateIndex() const {
  int best = -1;
  for (size_t i = 0; i < subnets.size(); ++i) {
    if (best < 0) {
      best = static_cast<int>(i);
      continue;
    }
    const SubnetLatency& a = subnets[i];
    const SubnetLatency& b = subnets[static_cast<size_t>(best)];
    if (a.accuracy > b.accuracy || (a.accuracy == b.accuracy && P99Us(a, 1) < P99Us(b, 1))) {
      best = static_cast<int>(i);
    }
  }
  return best;
}

int LatencyProfile::MaxBatch() const {
  int max_batch = 0;
  for (const SubnetLatency& subnet : subnets) {
    if (!subnet.batches.empty()) max_batch = std::max(max_batch, subnet.batches.back().batch);
  }
  return max_batch;
}

double P50Us(const SubnetLatency& subnet, int batch) {
  return Interpolate(subnet, batch, [](const BatchLatency& b) { return b.p50_us; });
}

double P99Us(const SubnetLatency& subnet, int batch) {
  return Interpolate(subnet, batch, [](const BatchLatency& b) { return b.p99_us; });
}

absl::Status ValidateLatencyProfile(const LatencyProfile& profile, absl::string_view source) {
  if (profile.workers < 1) return FieldError(source, "workers", "must be >= 1");
  if (profile.threads < 0) return FieldError(source, "threads", "must be >= 0");
  if (!std::isfinite(profile.overhead_us) || profile.overhead_us < 0) {
    return FieldError(source, "overhead_us", "must be finite and >= 0");
  }
  if (profile.subnets.empty()) return FieldError(source, "subnets", "must not be empty");
  std::set<int> ids;
  for (size_t s = 0; s < profile.subnets.size(); ++s) {
    const SubnetLatency& subnet = profile.subnets[s];
    const std::string path = absl::StrCat("subnets[", s, "]");
    if (subnet.id < 0) return FieldError(source, path + ".id", "must be >= 0");
    if (!ids.insert(subnet.id).second) {
      return FieldError(source, path + ".id", absl::StrCat("duplicate sub-net id ", subnet.id));
    }
    if (!(subnet.accuracy >= 0 && subnet.accuracy <= 1)) {
      return FieldError(source, path + ".accuracy", "must be in [0, 1]");
    }
    if (subnet.batches.empty()) return FieldError(source, path + ".batches", "must not be empty");
    for (size_t i = 0; i < subnet.batches.size(); ++i) {
      const BatchLatency& b = subnet.batches[i];
      const std::string bpath = absl::StrCat(path, ".batches[", i, "]");
      if (i == 0 && b.batch != 1) return FieldError(source, bpath + ".batch", "must be 1");
      if (i > 0 && b.batch <= subnet.batches[i - 1].batch) {
        return FieldError(source, bpath + ".batch", "must be larger than the previous batch");
      }
      if (!std::isfinite(b.p50_us) || !(b.p50_us > 0)) {
        return FieldError(source, bpath + ".p50_us", "must be > 0");
      }
      if (!std::isfinite(b.p99_us) || !(b.p99_us > 0)) {
        return FieldError(source, bpath + ".p99_us", "must be > 0");
      }
      if (b.p99_us < b.p50_us) return FieldError(source, bpath + ".p99_us", "must be >= p50_us");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<LatencyProfile> ParseLatencyProfile(absl::string_view json_text,
                                                   absl::string_view source) {
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not valid JSON: ", e.what()));
  }
  if (!root.is_object()) return FieldError(source, "(top level)", "must be an object");
  FieldReader r(root, source, "");
  std::string format;
  TS_ASSIGN_OR_RETURN(format, r.String("format", /*required=*/true));
  if (format != kFormat) {
    return FieldError(source, "format", absl::StrCat("must be \"", kFormat, "\""));
  }
  int version = 0;
  TS_ASSIGN_OR_RETURN(version, r.Int("version"));
  if (version != kVersion) {
    return FieldError(source, "version",
                      absl::StrCat(version, " is not supported (want ", kVersion, ")"));
  }
  LatencyProfile profile;
  if (auto it = root.find("bundle"); it != root.end()) {
    if (!it->is_object()) return FieldError(source, "bundle", "must be an object");
    FieldReader br(*it, source, "bundle");
    TS_ASSIGN_OR_RETURN(profile.bundle_name, br.String("name", false));
    TS_ASSIGN_OR_RETURN(profile.bundle_path, br.String("path", false));
    TS_ASSIGN_OR_RETURN(profile.bundle_checksum, br.String("checksum", false));
  }
  TS_ASSIGN_OR_RETURN(profile.engine, r.String("engine", /*required=*/true));
  TS_ASSIGN_OR_RETURN(profile.isa, r.String("isa", /*required=*/false));
  TS_ASSIGN_OR_RETURN(profile.workers, r.Int("workers"));
  TS_ASSIGN_OR_RETURN(profile.threads, r.Int("threads"));
  TS_ASSIGN_OR_RETURN(profile.overhead_us, r.Number("overhead_us"));
  const json* subnets = nullptr;
  TS_ASSIGN_OR_RETURN(subnets, r.Get("subnets"));
  if (!subnets->is_array()) return FieldError(source, "subnets", "must be an array");
  for (size_t s = 0; s < subnets->size(); ++s) {
    SubnetLatency subnet;
    TS_ASSIGN_OR_RETURN(subnet,
                        ParseSubnet((*subnets)[s], source, absl::StrCat("subnets[", s, "]")));
    profile.subnets.push_back(std::move(subnet));
  }
  if (absl::Status valid = ValidateLatencyProfile(profile, source); !valid.ok()) return valid;
  return profile;
}

absl::StatusOr<LatencyProfile> LoadLatencyProfile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path, "latency profile");
  if (!text.ok()) return text.status();
  return ParseLatencyProfile(*text, path);
}

std::string LatencyProfileToJson(const LatencyProfile& profile) {
  json root = {{"format", kFormat},
               {"version", kVersion},
               {"bundle",
                {{"name", profile.bundle_name},
                 {"path", profile.bundle_path},
                 {"checksum", profile.bundle_checksum}}},
               {"engine", profile.engine},
               {"isa", profile.isa},
               {"workers", profile.workers},
               {"threads", profile.threads},
               {"overhead_us", profile.overhead_us}};
  json subnets = json::array();
  for (const SubnetLatency& subnet : profile.subnets) {
    json batches = json::array();
    for (const BatchLatency& b : subnet.batches) {
      batches.push_back({{"batch", b.batch}, {"p50_us", b.p50_us}, {"p99_us", b.p99_us}});
    }
    subnets.push_back({{"id", subnet.id},
                       {"name", subnet.name},
                       {"accuracy", subnet.accuracy},
                       {"batches", std::move(batches)}});
  }
  root["subnets"] = std::move(subnets);
  return root.dump(2) + "\n";
}

absl::Status SaveLatencyProfile(const LatencyProfile& profile, const std::string& path) {
  if (absl::Status valid = ValidateLatencyProfile(profile, path); !valid.ok()) return valid;
  return WriteFileAtomically(path, LatencyProfileToJson(profile));
}

double MeanLatencyUs(double p50_us, double p99_us) {
  constexpr double kZ99 = 2.3263478740408408;  // the 99th percentile of the standard normal
  if (!(p99_us > p50_us && p50_us > 0)) return p50_us;
  const double sigma = std::log(p99_us / p50_us) / kZ99;
  return p50_us * std::exp(sigma * sigma / 2);
}

}  // namespace ternserve
