// PNG (libspng) and binary PGM decoding to 28 x 28 floats. See image_decoder.h.
#include "server/image_decoder.h"

#include <spng.h>

#include <cctype>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "models/arch.h"
#include "server/client_text.h"

namespace ternserve {
namespace {

constexpr char kPngMagic[] = "\x89PNG\r\n\x1a\n";
constexpr size_t kPngMagicBytes = 8;

absl::Status WrongSize(absl::string_view format, int64_t width, int64_t height) {
  return absl::InvalidArgumentError(absl::StrCat(format, " image is ", width, "x", height,
                                                 ", expected ", kImageSide, "x", kImageSide));
}

struct SpngDeleter {
  void operator()(spng_ctx* ctx) const { spng_ctx_free(ctx); }
};

// BT.601 luma of an 8-bit colour in [0, 1]; grey stored as colour stays exact.
float Luma(uint8_t r, uint8_t g, uint8_t b) {
  const float luma = (r == g && g == b) ? r : 0.299f * r + 0.587f * g + 0.114f * b;
  return luma / 255.0f;
}

absl::Status SpngError(absl::string_view what, int err) {
  return absl::InvalidArgumentError(
      absl::StrCat("not a valid PNG: ", what, ": ", spng_strerror(err)));
}

// Parses one header token of a PGM, skipping whitespace and '#' comments before it.
bool NextPgmToken(absl::string_view bytes, size_t* pos, absl::string_view* token) {
  size_t i = *pos;
  while (i < bytes.size()) {
    if (bytes[i] == '#') {
      while (i < bytes.size() && bytes[i] != '\n' && bytes[i] != '\r') ++i;
    } else if (std::isspace(static_cast<unsigned char>(bytes[i]))) {
      ++i;
    } else {
      break;
    }
  }
  const size_t start = i;
  while (i < bytes.size() && !std::isspace(static_cast<unsigned char>(bytes[i])) &&
         bytes[i] != '#') {
    ++i;
  }
  if (i == start) return false;
  *token = bytes.substr(start, i - start);
  *pos = i;
  return true;
}

// A positive decimal integer of at most 9 digits, or -1.
int64_t ParsePgmNumber(absl::string_view token) {
  if (token.empty() || token.size() > 9) return -1;
  int64_t value = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

absl::StatusOr<std::vector<float>> DecodeImage(absl::string_view bytes) {
  if (bytes.size() >= kPngMagicBytes && bytes.substr(0, kPngMagicBytes) == kPngMagic) {
    return DecodePng(bytes);
  }
  if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] == '5') return DecodePgm(bytes);
  if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] == '2') {
    return absl::InvalidArgumentError("plain (ASCII, P2) PGM is not supported; send binary P5");
  }
  return absl::InvalidArgumentError(
      "encoded image is neither a PNG nor a binary PGM (P5): unrecognized leading bytes");
}

absl::StatusOr<std::vector<float>> DecodePng(absl::string_view bytes) {
  std::unique_ptr<spng_ctx, SpngDeleter> ctx(spng_ctx_new(0));
  if (ctx == nullptr) return absl::ResourceExhaustedError("spng_ctx_new failed");
  // Bound what a hostile file can make us allocate before we have seen its size.
  spng_set_image_limits(ctx.get(), 1u << 14, 1u << 14);
  spng_set_chunk_limits(ctx.get(), 1u << 20, 1u << 22);
  if (int err = spng_set_png_buffer(ctx.get(), bytes.data(), bytes.size())) {
    return SpngError("buffer", err);
  }
  spng_ihdr ihdr{};
  if (int err = spng_get_ihdr(ctx.get(), &ihdr)) return SpngError("header", err);
  if (ihdr.width != kImageSide || ihdr.height != kImageSide) {
    return WrongSize("PNG", ihdr.width, ihdr.height);
  }

  // 8-bit-or-less grey decodes exactly to G8; palette images are decoded to their indices and
  // looked up here (libspng 0.7 turns an index beyond the palette into black, where the PNG spec,
  // 11.2.3 PLTE, makes it an error); everything else goes through RGBA8 and luma.
  const bool grey8 = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE && ihdr.bit_depth <= 8;
  const bool indexed = ihdr.color_type == SPNG_COLOR_TYPE_INDEXED;
  const int fmt = grey8 ? SPNG_FMT_G8 : indexed ? SPNG_FMT_RAW : SPNG_FMT_RGBA8;
  size_t out_bytes = 0;
  if (int err = spng_decoded_image_size(ctx.get(), fmt, &out_bytes)) {
    return SpngError("image size", err);
  }
  std::string decoded(out_bytes, '\0');
  if (int err = spng_decode_image(ctx.get(), decoded.data(), decoded.size(), fmt, 0)) {
    return SpngError("pixel data", err);
  }
  // The chunks after the pixel data, to IEND: a truncated file or a bad CRC on the last IDAT
  // shows only there.
  if (int err = spng_decode_chunks(ctx.get())) return SpngError("after the pixel data", err);

  std::vector<float> pixels(kImagePixels);
  const auto* p = reinterpret_cast<const uint8_t*>(decoded.data());
  if (grey8) {
    for (int i = 0; i < kImagePixels; ++i) pixels[i] = p[i] / 255.0f;
    return pixels;
  }
  if (indexed) {
    spng_plte plte{};
    if (int err = spng_get_plte(ctx.get(), &plte)) return SpngError("palette", err);
    // Indices of bit_depth bits, packed from the most significant bit, each row whole bytes.
    const int bits = ihdr.bit_depth;
    const size_t row_bytes = (static_cast<size_t>(kImageSide) * bits + 7) / 8;
    if (decoded.size() < row_bytes * kImageSide) {
      return absl::InternalError(absl::StrCat("libspng decoded ", decoded.size(),
                                              " bytes of palette indices, expected ",
                                              row_bytes * kImageSide));
    }
    for (int y = 0; y < kImageSide; ++y) {
      for (int x = 0; x < kImageSide; ++x) {
        const size_t bit = static_cast<size_t>(x) * bits;
        const uint8_t byte = p[y * row_bytes + bit / 8];
        const uint32_t index = (byte >> (8 - bits - bit % 8)) & ((1u << bits) - 1);
        if (index >= plte.n_entries) {
          return absl::InvalidArgumentError(
              absl::StrCat("not a valid PNG: pixel (", x, ", ", y, ") has palette index ", index,
                           ", beyond the palette's ", plte.n_entries, " entries"));
        }
        const spng_plte_entry& c = plte.entries[index];
        pixels[y * kImageSide + x] = Luma(c.red, c.green, c.blue);
      }
    }
    return pixels;
  }
  for (int i = 0; i < kImagePixels; ++i) pixels[i] = Luma(p[4 * i], p[4 * i + 1], p[4 * i + 2]);
  return pixels;
}

absl::StatusOr<std::vector<float>> DecodePgm(absl::string_view bytes) {
  if (bytes.size() < 2 || bytes.substr(0, 2) != "P5") {
    return absl::InvalidArgumentError("not a binary PGM: missing the P5 magic");
  }
  size_t pos = 2;
  int64_t fields[3];  // width, height, maxval
  const char* names[3] = {"width", "height", "maxval"};
  for (int f = 0; f < 3; ++f) {
    absl::string_view token;
    if (!NextPgmToken(bytes, &pos, &token)) {
      return absl::InvalidArgumentError(
          absl::StrCat("not a valid PGM: header ends before ", names[f]));
    }
    fields[f] = ParsePgmNumber(token);
    if (fields[f] <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "not a valid PGM: ", names[f], " '", ClientText(token), "' is not a positive integer"));
    }
  }
  // Exactly one whitespace byte separates the header from the raster.
  if (pos >= bytes.size() || !std::isspace(static_cast<unsigned char>(bytes[pos]))) {
    return absl::InvalidArgumentError("not a valid PGM: no whitespace after maxval");
  }
  ++pos;
  const int64_t width = fields[0], height = fields[1], maxval = fields[2];
  if (maxval > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat("PGM maxval is ", maxval, "; only 8-bit PGMs (maxval 1..255) are supported"));
  }
  if (width != kImageSide || height != kImageSide) return WrongSize("PGM", width, height);
  const size_t raster_bytes = bytes.size() - pos;
  if (raster_bytes != static_cast<size_t>(kImagePixels)) {
    return absl::InvalidArgumentError(
        absl::StrCat("PGM has ", raster_bytes, " bytes of pixel data, expected ", kImagePixels));
  }
  std::vector<float> pixels(kImagePixels);
  for (int i = 0; i < kImagePixels; ++i) {
    const auto v = static_cast<uint8_t>(bytes[pos + static_cast<size_t>(i)]);
    if (v > maxval) {
      return absl::InvalidArgumentError(
          absl::StrCat("PGM pixel ", i, " is ", v, ", more than maxval ", maxval));
    }
    pixels[i] = static_cast<float>(v) / static_cast<float>(maxval);
  }
  return pixels;
}

}  // namespace ternserve
