// Fuzz target: the bundle reader (Bundle::FromBytes) on any bytes. Each input is read twice: as
// it is, and with its trailer checksum recomputed, so that mutations also reach the metadata and
// section checks behind the CRC. A bundle that opens is read the way the engines read it.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "models/arch.h"
#include "models/bundle.h"

namespace {

void ReadLikeAnEngine(const ternserve::Bundle& bundle) {
  (void)bundle.checksum();
  const ternserve::BundleMetadata& m = bundle.metadata();
  const ternserve::SubnetMeta& largest = bundle.LargestSubnet();
  for (const ternserve::LayerSpec& layer : ternserve::SupernetLayers(m.arch)) {
    if (!ternserve::LayerActive(layer, largest.config)) continue;
    (void)bundle.SlicedWeights(layer, ternserve::SlicedOut(layer, largest.config),
                               ternserve::SlicedIn(layer, largest.config));
    if (layer.bn_name.empty()) continue;
    std::vector<float> scale, shift;
    bundle.FoldedBn(largest.id, layer, &scale, &shift);
  }
}

// The CRC-32 the trailer would hold for these bytes (as BundleWriter computes it).
void FixChecksum(std::string* b) {
  const size_t checked = b->size() - ternserve::kBundleTrailerBytes;
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(b->data()), static_cast<uInt>(checked)));
  std::memcpy(b->data() + checked, &crc, sizeof(crc));
}

void Open(std::string bytes) {
  auto bundle = ternserve::Bundle::FromBytes(std::move(bytes), "fuzz.tsn");
  if (bundle.ok()) ReadLikeAnEngine(**bundle);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  Open(bytes);
  if (bytes.size() >= ternserve::kBundleHeaderBytes + ternserve::kBundleTrailerBytes) {
    FixChecksum(&bytes);
    Open(std::move(bytes));
  }
  return 0;
}
