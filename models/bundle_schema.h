// The bundle's JSON metadata schema: BundleMetadata <-> JSON, and the section table. Shared by
// Bundle (reader) and BundleWriter so both sides agree field by field. Errors name the offending
// field, e.g. "metadata field subnets[2].depths: expected 3 integers".
#ifndef TERNSERVE_MODELS_BUNDLE_SCHEMA_H_
#define TERNSERVE_MODELS_BUNDLE_SCHEMA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "models/bundle.h"
#include "nlohmann/json.hpp"

namespace ternserve {

// One row of the section table. `offset` counts from the start of the data region, which begins at
// the first multiple of 64 after the metadata.
struct SectionEntry {
  std::string name;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  uint64_t bytes = 0;
};

constexpr size_t AlignUp(size_t n, size_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}
// Bytes a tensor of this dtype and shape occupies (ternary: rows = shape[0], packed per row).
size_t ExpectedBytes(DType dtype, const std::vector<int64_t>& shape);

nlohmann::json MetadataToJson(const BundleMetadata& metadata);
absl::Status MetadataFromJson(const nlohmann::json& json, BundleMetadata* metadata);

nlohmann::json SectionsToJson(const std::vector<SectionEntry>& sections);
absl::Status SectionsFromJson(const nlohmann::json& json, std::vector<SectionEntry>* sections);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_BUNDLE_SCHEMA_H_
