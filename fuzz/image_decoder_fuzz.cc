// Fuzz target: the image decoder (PNG via libspng, binary PGM) on any bytes, through the magic
// dispatch and through each decoder directly. A decoded image is 784 values in [0, 1].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/image_decoder.h"

namespace {

void Check(const absl::StatusOr<std::vector<float>>& pixels) {
  if (!pixels.ok()) return;
  if (pixels->size() != 784) std::abort();
  for (float v : *pixels) {
    if (!(v >= 0.0f && v <= 1.0f)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  Check(ternserve::DecodeImage(bytes));
  Check(ternserve::DecodePng(bytes));
  Check(ternserve::DecodePgm(bytes));
  return 0;
}
