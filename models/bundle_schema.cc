#include "models/bundle_schema.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "models/kernels/ternary_pack.h"

namespace ternserve {
namespace {

using nlohmann::json;

constexpr int64_t kMaxSectionElements = int64_t{1} << 40;

// Every accessor names the full field path in its error, so a bad file says exactly what is wrong.
absl::Status FieldError(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("metadata field ", path, ": ", what));
}

absl::Status Field(const json& object, const std::string& parent, const char* key,
                   const json** out) {
  const std::string path = parent.empty() ? key : absl::StrCat(parent, ".", key);
  auto it = object.find(key);
  if (it == object.end()) return FieldError(path, "missing");
  *out = &*it;
  return absl::OkStatus();
}

absl::Status GetString(const json& object, const std::string& parent, const char* key,
                       std::string* out) {
  const json* v;
  if (auto s = Field(object, parent, key, &v); !s.ok()) return s;
  if (!v->is_string())
    return FieldError(parent.empty() ? key : parent + "." + key, "expected a string");
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status GetNumber(const json& object, const std::string& parent, const char* key, double lo,
                       double hi, double* out) {
  const json* v;
  if (auto s = Field(object, parent, key, &v); !s.ok()) return s;
  const std::string path = parent.empty() ? key : parent + "." + key;
  if (!v->is_number()) return FieldError(path, "expected a number");
  *out = v->get<double>();
  if (!(*out >= lo && *out <= hi))
    return FieldError(path, absl::StrCat(*out, " is outside [", lo, ", ", hi, "]"));
  return absl::OkStatus();
}

absl::Status GetInt(const json& object, const std::string& parent, const char* key, int64_t lo,
                    int64_t hi, int64_t* out) {
  const json* v;
  if (auto s = Field(object, parent, key, &v); !s.ok()) return s;
  const std::string path = parent.empty() ? key : parent + "." + key;
  if (!v->is_number_integer()) return FieldError(path, "expected an integer");
  *out = v->get<int64_t>();
  if (*out < lo || *out > hi)
    return FieldError(path, absl::StrCat(*out, " is outside [", lo, ", ", hi, "]"));
  return absl::OkStatus();
}

template <typename T>
absl::Status GetArray(const json& object, const std::string& parent, const char* key,
                      size_t min_size, size_t max_size, T lo, T hi, std::vector<T>* out) {
  const json* v;
  if (auto s = Field(object, parent, key, &v); !s.ok()) return s;
  const std::string path = parent.empty() ? key : parent + "." + key;
  if (!v->is_array() || v->size() < min_size || v->size() > max_size) {
    return FieldError(path,
                      absl::StrCat("expected an array of ", min_size, "..", max_size, " numbers"));
  }
  out->clear();
  for (const json& e : *v) {
    const bool type_ok = std::is_integral_v<T> ? e.is_number_integer() : e.is_number();
    if (!type_ok)
      return FieldError(path, std::is_integral_v<T> ? "expected integers" : "expected numbers");
    // Integers are range-checked before they are narrowed: get<int>() of 2^32 + 32 is 32.
    if constexpr (std::is_integral_v<T>) {
      const int64_t x = e.get<int64_t>();
      if (x < lo || x > hi)
        return FieldError(path, absl::StrCat(x, " is outside [", lo, ", ", hi, "]"));
      out->push_back(static_cast<T>(x));
    } else {
      const T x = e.get<T>();
      if (!(x >= lo && x <= hi))
        return FieldError(path, absl::StrCat(x, " is outside [", lo, ", ", hi, "]"));
      out->push_back(x);
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status GetTriple(const json& object, const std::string& parent, const char* key, T lo, T hi,
                       std::array<int, kNumStages>* out) {
  std::vector<T> values;
  if (auto s = GetArray<T>(object, parent, key, kNumStages, kNumStages, lo, hi, &values); !s.ok())
    return s;
  std::copy(values.begin(), values.end(), out->begin());
  return absl::OkStatus();
}

absl::Status ArchFromJson(const json& j, ArchConfig* arch) {
  if (!j.is_object()) return FieldError("arch", "expected an object");
  if (auto s = GetTriple<int>(j, "arch", "max_widths", 1, 4096, &arch->max_widths); !s.ok())
    return s;
  if (auto s = GetTriple<int>(j, "arch", "max_depths", 1, 16, &arch->max_depths); !s.ok()) return s;
  if (auto s = GetTriple<int>(j, "arch", "strides", 1, 2, &arch->strides); !s.ok()) return s;
  if (auto s = GetArray<double>(j, "arch", "width_mults", 1, 16, 1e-3, 1.0, &arch->width_mults);
      !s.ok())
    return s;
  if (auto s = GetArray<int>(j, "arch", "depth_choices", 1, 16, 1, 16, &arch->depth_choices);
      !s.ok())
    return s;
  for (int d : arch->depth_choices) {
    if (d > *std::min_element(arch->max_depths.begin(), arch->max_depths.end())) {
      return FieldError("arch.depth_choices", absl::StrCat(d, " exceeds a stage's max_depths"));
    }
  }
  int64_t classes;
  if (auto s = GetInt(j, "arch", "num_classes", 2, 100000, &classes); !s.ok()) return s;
  arch->num_classes = static_cast<int>(classes);
  return absl::OkStatus();
}

// Optional "activation_scales": {name: scale}, exactly the names ActivationNames() gives for the
// sub-net, each a finite scale > 0.
absl::Status ActivationScalesFromJson(const json& j, const std::string& path,
                                      const ArchConfig& arch, SubnetMeta* subnet) {
  subnet->activation_scales.clear();
  const auto it = j.find("activation_scales");
  if (it == j.end()) return absl::OkStatus();
  const std::string field = path + ".activation_scales";
  if (!it->is_object()) return FieldError(field, "expected an object");
  const std::vector<std::string> names = ActivationNames(arch, subnet->config);
  for (const std::string& name : names) {
    const auto v = it->find(name);
    if (v == it->end()) return FieldError(field, absl::StrCat("missing \"", name, "\""));
    if (!v->is_number()) return FieldError(field + "." + name, "expected a number");
    const double scale = v->get<double>();
    if (!(scale > 0 && scale < 1e30)) {
      return FieldError(field + "." + name, absl::StrCat(scale, " is not a finite scale > 0"));
    }
    subnet->activation_scales[name] = static_cast<float>(scale);
  }
  if (it->size() != names.size()) {
    for (const auto& [key, value] : it->items()) {
      if (std::find(names.begin(), names.end(), key) == names.end())
        return FieldError(field, absl::StrCat("unexpected \"", key, "\" for this sub-net"));
    }
  }
  return absl::OkStatus();
}

absl::Status SubnetFromJson(const json& j, const std::string& path, const ArchConfig& arch,
                            SubnetMeta* subnet) {
  if (!j.is_object()) return FieldError(path, "expected an object");
  int64_t id;
  if (auto s = GetInt(j, path, "id", 0, 1 << 20, &id); !s.ok()) return s;
  subnet->id = static_cast<int>(id);
  if (auto s = GetString(j, path, "name", &subnet->name); !s.ok()) return s;
  if (auto s = GetTriple<int>(j, path, "depths", 1, 16, &subnet->config.depths); !s.ok()) return s;
  if (auto s = GetTriple<int>(j, path, "widths", 1, 4096, &subnet->config.widths); !s.ok())
    return s;
  if (auto s = ValidateSubnet(arch, subnet->config); !s.ok())
    return FieldError(path, std::string(s.message()));
  if (auto s = GetInt(j, path, "macs", 0, int64_t{1} << 50, &subnet->macs); !s.ok()) return s;
  if (auto s = GetInt(j, path, "params", 0, int64_t{1} << 40, &subnet->params); !s.ok()) return s;
  if (auto s = GetNumber(j, path, "val_accuracy", 0, 1, &subnet->val_accuracy); !s.ok()) return s;
  if (auto s = GetNumber(j, path, "test_accuracy", 0, 1, &subnet->test_accuracy); !s.ok()) return s;
  if (auto s = GetNumber(j, path, "sparsity", 0, 1, &subnet->sparsity); !s.ok()) return s;
  return ActivationScalesFromJson(j, path, arch, subnet);
}

}  // namespace

size_t ExpectedBytes(DType dtype, const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (dtype == DType::kFloat32) return static_cast<size_t>(numel) * sizeof(float);
  if (shape.empty() || shape[0] == 0) return 0;
  return kernels::PackedMatrixBytes(shape[0], numel / shape[0]);
}

json MetadataToJson(const BundleMetadata& m) {
  json subnets = json::array();
  for (const SubnetMeta& s : m.subnets) {
    subnets.push_back({{"id", s.id},
                       {"name", s.name},
                       {"depths", s.config.depths},
                       {"widths", s.config.widths},
                       {"macs", s.macs},
                       {"params", s.params},
                       {"val_accuracy", s.val_accuracy},
                       {"test_accuracy", s.test_accuracy},
                       {"sparsity", s.sparsity}});
    if (!s.activation_scales.empty()) subnets.back()["activation_scales"] = s.activation_scales;
  }
  return {{"format", "ternserve-bundle"},
          {"model_name", m.model_name},
          {"arch",
           {{"max_widths", m.arch.max_widths},
            {"max_depths", m.arch.max_depths},
            {"strides", m.arch.strides},
            {"width_mults", m.arch.width_mults},
            {"depth_choices", m.arch.depth_choices},
            {"num_classes", m.arch.num_classes}}},
          {"labels", m.labels},
          {"quantizer", m.quantizer},
          {"input",
           {{"shape", {1, kImageSide, kImageSide}}, {"mean", m.input_mean}, {"std", m.input_std}}},
          {"recipe", m.recipe.is_null() ? json::object() : m.recipe},
          {"subnets", subnets}};
}

absl::Status MetadataFromJson(const json& j, BundleMetadata* m) {
  std::string format;
  if (auto s = GetString(j, "", "format", &format); !s.ok()) return s;
  if (format != "ternserve-bundle") return FieldError("format", "expected \"ternserve-bundle\"");
  if (auto s = GetString(j, "", "model_name", &m->model_name); !s.ok()) return s;
  const json* arch;
  if (auto s = Field(j, "", "arch", &arch); !s.ok()) return s;
  if (auto s = ArchFromJson(*arch, &m->arch); !s.ok()) return s;
  const json* labels;
  if (auto s = Field(j, "", "labels", &labels); !s.ok()) return s;
  if (!labels->is_array() || static_cast<int>(labels->size()) != m->arch.num_classes) {
    return FieldError(
        "labels", absl::StrCat("expected ", m->arch.num_classes, " strings (arch.num_classes)"));
  }
  m->labels.clear();
  for (const json& l : *labels) {
    if (!l.is_string()) return FieldError("labels", "expected strings");
    m->labels.push_back(l.get<std::string>());
  }
  if (auto s = GetString(j, "", "quantizer", &m->quantizer); !s.ok()) return s;
  static const std::set<std::string> kQuantizers = {"tga", "sca", "twn", "none"};
  if (!kQuantizers.count(m->quantizer)) {
    return FieldError("quantizer",
                      absl::StrCat("\"", m->quantizer, "\" is not one of tga, sca, twn, none"));
  }
  m->ternary = m->quantizer != "none";
  const json* input;
  if (auto s = Field(j, "", "input", &input); !s.ok()) return s;
  double mean, std;
  if (auto s = GetNumber(*input, "input", "mean", -1e6, 1e6, &mean); !s.ok()) return s;
  if (auto s = GetNumber(*input, "input", "std", 1e-6, 1e6, &std); !s.ok()) return s;
  m->input_mean = static_cast<float>(mean);
  m->input_std = static_cast<float>(std);
  m->recipe = j.value("recipe", json::object());
  const json* subnets;
  if (auto s = Field(j, "", "subnets", &subnets); !s.ok()) return s;
  if (!subnets->is_array() || subnets->empty())
    return FieldError("subnets", "expected a non-empty array");
  m->subnets.clear();
  std::set<int> ids;
  for (size_t i = 0; i < subnets->size(); ++i) {
    SubnetMeta subnet;
    const std::string path = absl::StrCat("subnets[", i, "]");
    if (auto s = SubnetFromJson((*subnets)[i], path, m->arch, &subnet); !s.ok()) return s;
    if (!ids.insert(subnet.id).second)
      return FieldError(path + ".id", absl::StrCat(subnet.id, " is not unique"));
    m->subnets.push_back(subnet);
  }
  return absl::OkStatus();
}

json SectionsToJson(const std::vector<SectionEntry>& sections) {
  json out = json::array();
  for (const SectionEntry& e : sections) {
    out.push_back({{"name", e.name},
                   {"dtype", DTypeName(e.dtype)},
                   {"shape", e.shape},
                   {"offset", e.offset},
                   {"bytes", e.bytes}});
  }
  return out;
}

absl::Status SectionsFromJson(const json& j, std::vector<SectionEntry>* sections) {
  const json* table;
  if (auto s = Field(j, "", "sections", &table); !s.ok()) return s;
  if (!table->is_array()) return FieldError("sections", "expected an array");
  sections->clear();
  for (size_t i = 0; i < table->size(); ++i) {
    const json& e = (*table)[i];
    const std::string path = absl::StrCat("sections[", i, "]");
    if (!e.is_object()) return FieldError(path, "expected an object");
    SectionEntry entry;
    std::string dtype;
    if (auto s = GetString(e, path, "name", &entry.name); !s.ok()) return s;
    if (auto s = GetString(e, path, "dtype", &dtype); !s.ok()) return s;
    if (dtype != "ternary2" && dtype != "fp32")
      return FieldError(path + ".dtype", "expected ternary2 or fp32");
    entry.dtype = dtype == "ternary2" ? DType::kTernary2 : DType::kFloat32;
    if (auto s = GetArray<int64_t>(e, path, "shape", 1, 4, 1, 1 << 20, &entry.shape); !s.ok())
      return s;
    // Every dimension is in range, but four of them can multiply past int64 (ExpectedBytes, and
    // every reader of the tensor, multiply them); no section holds more than 2^40 bytes anyway.
    int64_t numel = 1;
    for (int64_t d : entry.shape) {
      if (numel > kMaxSectionElements / d) {
        return FieldError(path + ".shape", "more than 2^40 elements");
      }
      numel *= d;
    }
    int64_t offset, bytes;
    if (auto s = GetInt(e, path, "offset", 0, int64_t{1} << 40, &offset); !s.ok()) return s;
    if (auto s = GetInt(e, path, "bytes", 0, int64_t{1} << 40, &bytes); !s.ok()) return s;
    entry.offset = static_cast<uint64_t>(offset);
    entry.bytes = static_cast<uint64_t>(bytes);
    sections->push_back(entry);
  }
  return absl::OkStatus();
}

}  // namespace ternserve
