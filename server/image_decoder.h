// Decodes the encoded images a ClassifyRequest may carry (PNG via libspng, or binary PGM "P5") into
// the model's input: 28 x 28 floats in [0, 1], row-major, byte value / 255.
//
// Colour PNGs are converted to luma with the ITU-R BT.601 weights (0.299 R + 0.587 G + 0.114 B, as
// PIL's "L" mode does); alpha is ignored. 16-bit images are reduced to 8 bits first. Any other size
// is refused with INVALID_ARGUMENT naming the actual size; anything that is not a well-formed PNG
// or P5 PGM is refused with INVALID_ARGUMENT saying why. Stateless functions; thread-safe.
#ifndef TERNSERVE_SERVER_IMAGE_DECODER_H_
#define TERNSERVE_SERVER_IMAGE_DECODER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

// PNG or PGM, told apart by the leading magic bytes.
absl::StatusOr<std::vector<float>> DecodeImage(absl::string_view bytes);

absl::StatusOr<std::vector<float>> DecodePng(absl::string_view bytes);
// Binary PGM (P5): maxval 1..255, '#' comments allowed in the header. Values are scaled by 1 /
// maxval.
absl::StatusOr<std::vector<float>> DecodePgm(absl::string_view bytes);

}  // namespace ternserve

#endif  // TERNSERVE_SERVER_IMAGE_DECODER_H_
