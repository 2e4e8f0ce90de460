// The model bundle (*.tsn): one little-endian file that holds a trained SuperNet's packed ternary
// (or fp32) weights, per-channel scales, each Pareto sub-net's folded BatchNorm, and metadata. See
// docs/architecture.md "The bundle format"; the byte layout is:
//
//   offset 0   header (24 bytes): magic "TSNB", u32 version, u64 metadata length, u64 file length
//   offset 24  metadata: UTF-8 JSON (architecture, labels, quantizer, recipe, sub-nets, section
//   table)
//   ...        zero padding to 64 bytes, then 64-byte-aligned sections (offsets in the section
//   table) end - 8    trailer: u32 CRC-32 (zlib) of every byte before the trailer, then magic
//   "TSNE"
//
// Section names: for every layer L of SupernetLayers(), either "L.codes" (dtype ternary2, shape
// [out, in, k, k] or [out, in] for fc, packed as models/kernels/ternary_pack.h says) plus "L.scale"
// (fp32 [out]), or "L.weight" (fp32, same shape) for an fp32 bundle; "fc.bias" (fp32 [classes]);
// and for every sub-net id I and every BN of a layer active in it, "subnet.I.BN.scale" and
// "subnet.I.BN.shift" (fp32 [sliced out]), the BN folded as y = scale * x + shift.
//
// Bundle::Open validates everything before returning: header, version, bounds, checksum, JSON
// schema, section table (alignment, bounds, overlap, byte counts), shapes against the architecture,
// codes, and finiteness. A bad file is refused with a message naming the file and the fault;
// nothing is half-loaded. A Bundle is immutable after Open and safe to share between threads. No
// LibTorch.
#ifndef TERNSERVE_MODELS_BUNDLE_H_
#define TERNSERVE_MODELS_BUNDLE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "models/arch.h"
#include "nlohmann/json.hpp"

namespace ternserve {

inline constexpr char kBundleMagic[4] = {'T', 'S', 'N', 'B'};
inline constexpr char kBundleTrailerMagic[4] = {'T', 'S', 'N', 'E'};
inline constexpr uint32_t kBundleVersion = 1;
inline constexpr size_t kBundleHeaderBytes = 24;
inline constexpr size_t kBundleTrailerBytes = 8;
inline constexpr size_t kBundleAlignment = 64;

enum class DType { kTernary2, kFloat32 };
const char* DTypeName(DType dtype);

struct TensorView {
  DType dtype = DType::kFloat32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t bytes = 0;

  int64_t numel() const;
  const float* floats() const { return reinterpret_cast<const float*>(data); }
};

// What the bundle records about one of its sub-nets.
struct SubnetMeta {
  int id = 0;
  std::string name;
  SubnetConfig config;
  int64_t macs = 0;
  int64_t params = 0;
  double val_accuracy = 0;   // [0, 1]
  double test_accuracy = 0;  // [0, 1]
  double sparsity = 0;       // fraction of zero weight codes
  // u8 requantization scale (real value of one u8 step) of each activation tensor that
  // ActivationNames() lists, calibrated on training images at export; what TernaryEngine needs.
  // Empty if the bundle was written without calibration (optional in the file).
  std::map<std::string, float> activation_scales;
};

struct BundleMetadata {
  std::string model_name;
  ArchConfig arch;
  std::vector<std::string> labels;
  std::string quantizer;    // "tga", "sca", "twn" or "none"
  bool ternary = true;      // false only for quantizer "none"
  float input_mean = 0.0f;  // normalization the engines apply: (pixel - mean) / std
  float input_std = 1.0f;
  nlohmann::json recipe;  // how it was trained (free-form, for people)
  std::vector<SubnetMeta> subnets;
};

class Bundle {
 public:
  static absl::StatusOr<std::unique_ptr<Bundle>> Open(const std::string& path);
  // Validates `bytes` as a bundle; `source` names it in errors.
  static absl::StatusOr<std::unique_ptr<Bundle>> FromBytes(std::string bytes,
                                                           const std::string& source);

  const BundleMetadata& metadata() const { return metadata_; }
  const std::string& source() const { return source_; }
  size_t file_bytes() const { return bytes_.size(); }
  // "crc32:<8 hex digits>": the trailer's CRC-32, which Open/FromBytes checked. Identifies the
  // bundle's exact bytes (latency profiles record it, and the server matches them by it).
  std::string checksum() const;

  // NOT_FOUND if there is no such section.
  absl::StatusOr<TensorView> Tensor(std::string_view name) const;
  // Every section's name, sorted.
  std::vector<std::string> SectionNames() const;
  // nullptr if the bundle has no such sub-net.
  const SubnetMeta* FindSubnet(int id) const;
  // The sub-net with the most MACs (the default to serve).
  const SubnetMeta& LargestSubnet() const;

  // Dense fp32 weights of `layer` sliced to its leading [out][in] channels, as [out, in, k, k]
  // (scale applied for ternary bundles).
  std::vector<float> SlicedWeights(const LayerSpec& layer, int out, int in) const;
  // Folded BN (scale, shift) of `layer` in sub-net `subnet_id`; both of the sliced width.
  void FoldedBn(int subnet_id, const LayerSpec& layer, std::vector<float>* scale,
                std::vector<float>* shift) const;

 private:
  Bundle() = default;
  absl::Status Parse();
  absl::Status ValidateTensors();
  absl::Status ExpectTensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            std::set<std::string>* seen) const;

  // Constant after construction.
  std::string source_;
  std::string bytes_;
  BundleMetadata metadata_;
  std::map<std::string, TensorView, std::less<>> sections_;
};

// Builds a bundle file. Thread-compatible.
class BundleWriter {
 public:
  // The writer adds the section table to the metadata's JSON form (models/bundle_schema.h).
  explicit BundleWriter(BundleMetadata metadata) : metadata_(std::move(metadata)) {}
  // A writer holding a copy of `bundle`'s metadata and sections, to rewrite it with changes.
  static BundleWriter CopyOf(const Bundle& bundle);

  BundleMetadata& metadata() { return metadata_; }

  // `t` holds values in {-1, 0, +1}, row-major over `shape` (rows = shape[0]).
  absl::Status AddTernary(const std::string& name, const std::vector<int64_t>& shape,
                          const std::vector<int8_t>& t);
  absl::Status AddFloat(const std::string& name, const std::vector<int64_t>& shape,
                        const std::vector<float>& values);

  // The whole file's bytes.
  std::string Serialize() const;
  // Writes atomically (temporary file, then rename).
  absl::Status WriteFile(const std::string& path) const;

 private:
  struct Section {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  BundleMetadata metadata_;
  std::vector<Section> sections_;
};

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_BUNDLE_H_
