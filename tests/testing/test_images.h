// Test helpers that build encoded images: PNGs through libspng's encoder and binary PGMs by hand.
// Header-only; link PkgConfig::SPNG. Thread-safe.
#ifndef TERNSERVE_TESTS_TESTING_TEST_IMAGES_H_
#define TERNSERVE_TESTS_TESTING_TEST_IMAGES_H_

#include <spng.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ternserve::testing {

// `samples` holds width * height * channels(color_type) samples of `bit_depth` bits, big-endian for
// 16-bit, row-major. Returns the PNG file bytes, or "" if spng refused.
inline std::string EncodePng(uint32_t width, uint32_t height, uint8_t color_type, uint8_t bit_depth,
                             const std::string& samples) {
  spng_ctx* ctx = spng_ctx_new(SPNG_CTX_ENCODER);
  spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1);
  spng_ihdr ihdr{};
  ihdr.width = width;
  ihdr.height = height;
  ihdr.bit_depth = bit_depth;
  ihdr.color_type = color_type;
  std::string png;
  if (spng_set_ihdr(ctx, &ihdr) == 0 &&
      spng_encode_image(ctx, samples.data(), samples.size(), SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE) ==
          0) {
    size_t len = 0;
    int err = 0;
    void* buffer = spng_get_png_buffer(ctx, &len, &err);
    if (buffer != nullptr) {
      png.assign(static_cast<const char*>(buffer), len);
      free(buffer);
    }
  }
  spng_ctx_free(ctx);
  return png;
}

// An 8-bit greyscale PNG of width x height from one byte per pixel.
inline std::string GreyPng(uint32_t width, uint32_t height, const std::vector<uint8_t>& pixels) {
  return EncodePng(width, height, SPNG_COLOR_TYPE_GRAYSCALE, 8,
                   std::string(pixels.begin(), pixels.end()));
}

// A binary PGM (P5) with the given header text between magic and raster, e.g. "28 28\n255".
inline std::string Pgm(const std::string& header, const std::vector<uint8_t>& pixels) {
  return absl::StrCat("P5\n", header, "\n", std::string(pixels.begin(), pixels.end()));
}

// A deterministic 28x28 test pattern: pixel i = (i * 7) % 256.
inline std::vector<uint8_t> Pattern(int pixels = 28 * 28) {
  std::vector<uint8_t> out(static_cast<size_t>(pixels));
  for (int i = 0; i < pixels; ++i)
    out[static_cast<size_t>(i)] = static_cast<uint8_t>((i * 7) % 256);
  return out;
}

}  // namespace ternserve::testing

#endif  // TERNSERVE_TESTS_TESTING_TEST_IMAGES_H_
