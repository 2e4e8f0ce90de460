#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/bundle.h"
#include "models/bundle_schema.h"
#include "models/kernels/ternary_pack.h"

namespace ternserve {
namespace {

template <typename T>
void AppendLittleEndian(std::string* out, T value) {
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  out->append(raw, sizeof(T));
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

absl::Status BundleWriter::AddTernary(const std::string& name, const std::vector<int64_t>& shape,
                                      const std::vector<int8_t>& t) {
  if (shape.empty() || Numel(shape) != static_cast<int64_t>(t.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", t.size(), " values do not fill the shape"));
  }
  Section section{name, DType::kTernary2, shape,
                  std::string(ExpectedBytes(DType::kTernary2, shape), '\0')};
  const int64_t rows = shape[0];
  if (!kernels::PackTernary(t.data(), rows, Numel(shape) / rows,
                            reinterpret_cast<uint8_t*>(section.bytes.data()))) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": a value is outside {-1, 0, +1}"));
  }
  sections_.push_back(std::move(section));
  return absl::OkStatus();
}

BundleWriter BundleWriter::CopyOf(const Bundle& bundle) {
  BundleWriter writer(bundle.metadata());
  for (const std::string& name : bundle.SectionNames()) {
    const TensorView t = *bundle.Tensor(name);
    writer.sections_.push_back(Section{
        name, t.dtype, t.shape, std::string(reinterpret_cast<const char*>(t.data), t.bytes)});
  }
  return writer;
}

absl::Status BundleWriter::AddFloat(const std::string& name, const std::vector<int64_t>& shape,
                                    const std::vector<float>& values) {
  if (shape.empty() || Numel(shape) != static_cast<int64_t>(values.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", values.size(), " values do not fill the shape"));
  }
  std::string bytes(values.size() * sizeof(float), '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());
  sections_.push_back(Section{name, DType::kFloat32, shape, std::move(bytes)});
  return absl::OkStatus();
}

std::string BundleWriter::Serialize() const {
  std::vector<SectionEntry> table;
  uint64_t offset = 0;
  for (const Section& s : sections_) {
    table.push_back(SectionEntry{s.name, s.dtype, s.shape, offset, s.bytes.size()});
    offset = AlignUp(offset + s.bytes.size(), kBundleAlignment);
  }
  nlohmann::json metadata = MetadataToJson(metadata_);
  metadata["sections"] = SectionsToJson(table);
  const std::string metadata_text = metadata.dump(1);
  const size_t data_start = AlignUp(kBundleHeaderBytes + metadata_text.size(), kBundleAlignment);
  const uint64_t file_bytes = data_start + offset + kBundleTrailerBytes;

  std::string out;
  out.reserve(file_bytes);
  out.append(kBundleMagic, 4);
  AppendLittleEndian<uint32_t>(&out, kBundleVersion);
  AppendLittleEndian<uint64_t>(&out, metadata_text.size());
  AppendLittleEndian<uint64_t>(&out, file_bytes);
  out += metadata_text;
  for (size_t i = 0; i < sections_.size(); ++i) {
    out.resize(data_start + table[i].offset, '\0');
    out += sections_[i].bytes;
  }
  out.resize(data_start + offset, '\0');
  const uint32_t crc =
      static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(out.data()), out.size()));
  AppendLittleEndian<uint32_t>(&out, crc);
  out.append(kBundleTrailerMagic, 4);
  return out;
}

absl::Status BundleWriter::WriteFile(const std::string& path) const {
  const std::string bytes = Serialize();
  const std::string tmp = path + ".tmp";
  {
    std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
    if (!file)
      return absl::PermissionDeniedError(
          absl::StrCat(tmp, ": cannot create (", std::strerror(errno), ")"));
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!file.flush()) return absl::DataLossError(absl::StrCat(tmp, ": write failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("rename ", tmp, " -> ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace ternserve
