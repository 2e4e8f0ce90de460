#include "models/bundle.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/bundle_schema.h"
#include "models/kernels/ternary_pack.h"

namespace ternserve {
namespace {

template <typename T>
T ReadLittleEndian(const std::string& bytes, size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset,
              sizeof(T));  // the format and every supported host are LE
  return value;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

}  // namespace

const char* DTypeName(DType dtype) { return dtype == DType::kTernary2 ? "ternary2" : "fp32"; }

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<std::unique_ptr<Bundle>> Bundle::Open(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return absl::NotFoundError(
        absl::StrCat("bundle ", path, ": cannot open (", std::strerror(errno), ")"));
  std::stringstream contents;
  contents << file.rdbuf();
  return FromBytes(contents.str(), path);
}

absl::StatusOr<std::unique_ptr<Bundle>> Bundle::FromBytes(std::string bytes,
                                                          const std::string& source) {
  std::unique_ptr<Bundle> bundle(new Bundle());
  bundle->source_ = source;
  bundle->bytes_ = std::move(bytes);
  if (absl::Status s = bundle->Parse(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("bundle ", source, ": ", s.message()));
  }
  return bundle;
}

absl::Status Bundle::Parse() {
  const std::string& b = bytes_;
  if (b.size() < kBundleHeaderBytes + kBundleTrailerBytes) {
    return absl::DataLossError(
        absl::StrCat("truncated: ", b.size(), " bytes is smaller than header + trailer"));
  }
  if (std::memcmp(b.data(), kBundleMagic, 4) != 0) {
    return absl::InvalidArgumentError("not a Ternserve bundle (bad magic; expected \"TSNB\")");
  }
  const uint32_t version = ReadLittleEndian<uint32_t>(b, 4);
  if (version != kBundleVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("format version ", version, " is not supported (this build reads version ",
                     kBundleVersion, ")"));
  }
  const uint64_t metadata_bytes = ReadLittleEndian<uint64_t>(b, 8);
  const uint64_t file_bytes = ReadLittleEndian<uint64_t>(b, 16);
  if (b.size() < file_bytes) {
    return absl::DataLossError(
        absl::StrCat("truncated: ", b.size(), " bytes, the header says ", file_bytes));
  }
  if (b.size() > file_bytes) {
    return absl::DataLossError(absl::StrCat(
        b.size() - file_bytes, " trailing bytes after the declared end (", file_bytes, " bytes)"));
  }
  if (std::memcmp(b.data() + b.size() - 4, kBundleTrailerMagic, 4) != 0) {
    return absl::DataLossError("bad trailer magic (expected \"TSNE\"): the file is corrupted");
  }
  const size_t checked = b.size() - kBundleTrailerBytes;
  const uint32_t stored_crc = ReadLittleEndian<uint32_t>(b, checked);
  const uint32_t actual_crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(checked)));
  if (stored_crc != actual_crc) {
    return absl::DataLossError(absl::StrCat("checksum mismatch (stored crc32 ",
                                            absl::Hex(stored_crc), ", computed ",
                                            absl::Hex(actual_crc), "): the file is corrupted"));
  }
  if (metadata_bytes > checked - kBundleHeaderBytes) {
    return absl::DataLossError(
        absl::StrCat("metadata length ", metadata_bytes, " runs past the end of the file"));
  }
  nlohmann::json json = nlohmann::json::parse(
      b.begin() + kBundleHeaderBytes, b.begin() + kBundleHeaderBytes + metadata_bytes, nullptr,
      /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object())
    return absl::InvalidArgumentError("metadata is not a JSON object");
  if (absl::Status s = MetadataFromJson(json, &metadata_); !s.ok()) return s;

  // Section table: aligned, in bounds, non-overlapping, sized as dtype x shape says.
  const size_t data_start = AlignUp(kBundleHeaderBytes + metadata_bytes, kBundleAlignment);
  const size_t data_region = data_start <= checked ? checked - data_start : 0;
  std::vector<SectionEntry> entries;
  if (absl::Status s = SectionsFromJson(json, &entries); !s.ok()) return s;
  std::vector<std::pair<size_t, size_t>> extents;
  for (const SectionEntry& e : entries) {
    const std::string where = absl::StrCat("section \"", e.name, "\"");
    if (e.offset % kBundleAlignment != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": offset ", e.offset, " is not 64-byte aligned"));
    }
    if (e.offset > data_region || e.bytes > data_region - e.offset) {
      return absl::DataLossError(absl::StrCat(where, ": bytes [", e.offset, ", ",
                                              e.offset + e.bytes, ") run past the data region (",
                                              data_region, " bytes)"));
    }
    TensorView view;
    view.dtype = e.dtype;
    view.shape = e.shape;
    view.data = reinterpret_cast<const uint8_t*>(b.data()) + data_start + e.offset;
    view.bytes = e.bytes;
    const size_t expected = ExpectedBytes(e.dtype, e.shape);
    if (view.bytes != expected) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", e.bytes, " bytes, but ",
                                                     DTypeName(e.dtype), " ", ShapeString(e.shape),
                                                     " needs ", expected));
    }
    if (!sections_.emplace(e.name, view).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, " appears twice"));
    }
    extents.emplace_back(e.offset, e.offset + e.bytes);
  }
  std::sort(extents.begin(), extents.end());
  for (size_t i = 1; i < extents.size(); ++i) {
    if (extents[i].first < extents[i - 1].second) {
      return absl::InvalidArgumentError(
          absl::StrCat("sections overlap at data offset ", extents[i].first));
    }
  }
  return ValidateTensors();
}

absl::Status Bundle::ExpectTensor(const std::string& name, DType dtype,
                                  const std::vector<int64_t>& shape,
                                  std::set<std::string>* seen) const {
  auto it = sections_.find(name);
  if (it == sections_.end())
    return absl::InvalidArgumentError(absl::StrCat("missing section \"", name, "\""));
  const TensorView& v = it->second;
  if (v.dtype != dtype || v.shape != shape) {
    return absl::InvalidArgumentError(
        absl::StrCat("section \"", name, "\" is ", DTypeName(v.dtype), " ", ShapeString(v.shape),
                     ", the architecture needs ", DTypeName(dtype), " ", ShapeString(shape)));
  }
  if (dtype == DType::kFloat32) {
    const float* f = v.floats();
    for (int64_t i = 0; i < v.numel(); ++i) {
      if (!std::isfinite(f[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("section \"", name, "\" value ", i, " is not finite"));
      }
    }
  } else if (!kernels::ValidatePackedTernary(v.data, shape[0], v.numel() / shape[0])) {
    return absl::InvalidArgumentError(
        absl::StrCat("section \"", name, "\" holds an invalid 2-bit code"));
  }
  seen->insert(name);
  return absl::OkStatus();
}

absl::Status Bundle::ValidateTensors() {
  const ArchConfig& arch = metadata_.arch;
  std::set<std::string> seen;
  for (const LayerSpec& layer : SupernetLayers(arch)) {
    std::vector<int64_t> shape = {layer.out_channels, layer.in_channels};
    if (layer.name != "fc") shape.insert(shape.end(), {layer.kernel, layer.kernel});
    if (metadata_.ternary) {
      if (auto s = ExpectTensor(layer.name + ".codes", DType::kTernary2, shape, &seen); !s.ok())
        return s;
      if (auto s =
              ExpectTensor(layer.name + ".scale", DType::kFloat32, {layer.out_channels}, &seen);
          !s.ok()) {
        return s;
      }
    } else if (auto s = ExpectTensor(layer.name + ".weight", DType::kFloat32, shape, &seen);
               !s.ok()) {
      return s;
    }
  }
  if (auto s = ExpectTensor("fc.bias", DType::kFloat32, {arch.num_classes}, &seen); !s.ok())
    return s;
  for (const SubnetMeta& subnet : metadata_.subnets) {
    for (const LayerSpec& layer : SupernetLayers(arch)) {
      if (layer.bn_name.empty() || !LayerActive(layer, subnet.config)) continue;
      const std::vector<int64_t> shape = {SlicedOut(layer, subnet.config)};
      for (const char* part : {".scale", ".shift"}) {
        const std::string name = absl::StrCat("subnet.", subnet.id, ".", layer.bn_name, part);
        if (auto s = ExpectTensor(name, DType::kFloat32, shape, &seen); !s.ok()) return s;
      }
    }
  }
  for (const auto& [name, view] : sections_) {
    if (!seen.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected section \"", name, "\" (not part of the architecture)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorView> Bundle::Tensor(std::string_view name) const {
  auto it = sections_.find(name);
  if (it == sections_.end())
    return absl::NotFoundError(absl::StrCat("no section \"", std::string(name), "\" in ", source_));
  return it->second;
}

std::vector<std::string> Bundle::SectionNames() const {
  std::vector<std::string> names;
  for (const auto& [name, view] : sections_) names.push_back(name);
  return names;
}

std::string Bundle::checksum() const {
  const uint32_t crc = ReadLittleEndian<uint32_t>(bytes_, bytes_.size() - kBundleTrailerBytes);
  return absl::StrCat("crc32:", absl::Hex(crc, absl::kZeroPad8));
}

const SubnetMeta* Bundle::FindSubnet(int id) const {
  for (const SubnetMeta& s : metadata_.subnets) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

const SubnetMeta& Bundle::LargestSubnet() const {
  return *std::max_element(
      metadata_.subnets.begin(), metadata_.subnets.end(),
      [](const SubnetMeta& a, const SubnetMeta& b) { return a.macs < b.macs; });
}

std::vector<float> Bundle::SlicedWeights(const LayerSpec& layer, int out, int in) const {
  const int64_t row = layer.RowLength();
  const int64_t used = static_cast<int64_t>(in) * layer.kernel * layer.kernel;
  std::vector<float> w(static_cast<size_t>(out) * used);
  if (metadata_.ternary) {
    const TensorView codes = sections_.at(layer.name + ".codes");
    const float* scale = sections_.at(layer.name + ".scale").floats();
    for (int o = 0; o < out; ++o) {
      const uint8_t* packed = codes.data + o * kernels::PackedRowBytes(row);
      for (int64_t j = 0; j < used; ++j) w[o * used + j] = kernels::TernaryAt(packed, j) * scale[o];
    }
  } else {
    const float* dense = sections_.at(layer.name + ".weight").floats();
    for (int o = 0; o < out; ++o)
      std::copy(dense + o * row, dense + o * row + used, w.begin() + o * used);
  }
  return w;
}

void Bundle::FoldedBn(int subnet_id, const LayerSpec& layer, std::vector<float>* scale,
                      std::vector<float>* shift) const {
  const std::string prefix = absl::StrCat("subnet.", subnet_id, ".", layer.bn_name);
  const TensorView s = sections_.at(prefix + ".scale");
  const TensorView t = sections_.at(prefix + ".shift");
  scale->assign(s.floats(), s.floats() + s.numel());
  shift->assign(t.floats(), t.floats() + t.numel());
}

}  // namespace ternserve
