// Hostile PNG files, written chunk by chunk (zlib for the CRCs and the IDAT stream), for the tests
// of bad input: headers that declare absurd sizes, truncated or corrupt data, decompression bombs,
// palettes. Each is what a careless or malicious client could send; each builder documents what a
// decoder should make of it. Header-only; link ZLIB::ZLIB. Thread-safe.
#ifndef TERNSERVE_TESTS_TESTING_HOSTILE_PNGS_H_
#define TERNSERVE_TESTS_TESTING_HOSTILE_PNGS_H_

#include <zlib.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ternserve::testing {

inline constexpr char kPngSignature[] = "\x89PNG\r\n\x1a\n";

inline void AppendBigEndian32(uint32_t v, std::string* out) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((v >> shift) & 0xff));
}

// One chunk: length, type, data, CRC of type + data. `corrupt_crc` flips the CRC's low bit.
inline std::string PngChunk(const std::string& type, const std::string& data,
                            bool corrupt_crc = false) {
  std::string chunk;
  AppendBigEndian32(static_cast<uint32_t>(data.size()), &chunk);
  const std::string body = type + data;
  chunk += body;
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  AppendBigEndian32(static_cast<uint32_t>(crc) ^ (corrupt_crc ? 1u : 0u), &chunk);
  return chunk;
}

inline std::string IhdrChunk(uint32_t width, uint32_t height, uint8_t bit_depth,
                             uint8_t color_type) {
  std::string data;
  AppendBigEndian32(width, &data);
  AppendBigEndian32(height, &data);
  data += {static_cast<char>(bit_depth), static_cast<char>(color_type), 0, 0, 0};
  return PngChunk("IHDR", data);
}

// zlib stream of `raw`, then `zero_tail_bytes` more zero bytes (compressed, ~1000:1).
inline std::string Zlib(const std::string& raw, size_t zero_tail_bytes = 0) {
  z_stream z{};
  deflateInit(&z, Z_BEST_COMPRESSION);
  std::string out;
  std::vector<unsigned char> buffer(1 << 16);
  const std::string zeros(1 << 20, '\0');
  auto pump = [&](const std::string& in, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    do {
      z.next_out = buffer.data();
      z.avail_out = static_cast<uInt>(buffer.size());
      deflate(&z, flush);
      out.append(reinterpret_cast<const char*>(buffer.data()), buffer.size() - z.avail_out);
    } while (z.avail_out == 0);
  };
  pump(raw, Z_NO_FLUSH);
  for (size_t left = zero_tail_bytes; left > 0;) {
    const size_t n = left < zeros.size() ? left : zeros.size();
    pump(zeros.substr(0, n), Z_NO_FLUSH);
    left -= n;
  }
  pump(std::string(), Z_FINISH);
  deflateEnd(&z);
  return out;
}

// The scanlines of an 8-bit single-sample image: each row is filter byte 0 and its `side` bytes.
inline std::string Scanlines8(uint32_t side, uint8_t value) {
  std::string raw;
  for (uint32_t y = 0; y < side; ++y) {
    raw.push_back('\0');
    raw.append(side, static_cast<char>(value));
  }
  return raw;
}

// A valid 28x28 8-bit greyscale PNG of one grey value, written by hand.
inline std::string HandGreyPng(uint8_t value = 128) {
  return std::string(kPngSignature, 8) + IhdrChunk(28, 28, 8, 0) +
         PngChunk("IDAT", Zlib(Scanlines8(28, value))) + PngChunk("IEND", "");
}

// A valid IHDR declaring 100000 x 100000 greyscale (10 GB decoded), a small IDAT and IEND: a
// decoder that allocates from the header before checking it is bombed.
inline std::string HugeHeaderPng() {
  return std::string(kPngSignature, 8) + IhdrChunk(100000, 100000, 8, 0) +
         PngChunk("IDAT", Zlib(Scanlines8(28, 0))) + PngChunk("IEND", "");
}

// A 28x28 greyscale PNG whose IDAT inflates to the 812 bytes the image needs followed by
// `extra_bytes` zeros: a decompression bomb (about 1 KB of IDAT per MB inflated).
inline std::string DecompressionBombPng(size_t extra_bytes) {
  return std::string(kPngSignature, 8) + IhdrChunk(28, 28, 8, 0) +
         PngChunk("IDAT", Zlib(Scanlines8(28, 0), extra_bytes)) + PngChunk("IEND", "");
}

// Palette entry i of PalettePng: grey i * 255 / entries.
inline uint8_t PaletteGrey(int entries, int i) { return static_cast<uint8_t>(i * 255 / entries); }

// A 28x28 palette PNG of `bit_depth` (1, 2, 4 or 8) bits per index: `entries` palette colours
// (PaletteGrey), pixel i has index `indices[i]` (784 of them, row-major). An index at or beyond
// `entries` is out of the palette, which the PNG spec (11.2.3) makes an error.
inline std::string PalettePng(int entries, const std::vector<uint8_t>& indices,
                              uint8_t bit_depth = 8) {
  std::string plte;
  for (int i = 0; i < entries; ++i)
    plte += std::string(3, static_cast<char>(PaletteGrey(entries, i)));
  std::string raw;
  for (int y = 0; y < 28; ++y) {
    raw.push_back('\0');
    unsigned acc = 0;
    int bits = 0;
    for (int x = 0; x < 28; ++x) {
      acc = (acc << bit_depth) | indices[static_cast<size_t>(y * 28 + x)];
      bits += bit_depth;
      if (bits == 8) {
        raw.push_back(static_cast<char>(acc));
        acc = 0;
        bits = 0;
      }
    }
    if (bits > 0) raw.push_back(static_cast<char>(acc << (8 - bits)));
  }
  return std::string(kPngSignature, 8) + IhdrChunk(28, 28, bit_depth, 3) + PngChunk("PLTE", plte) +
         PngChunk("IDAT", Zlib(raw)) + PngChunk("IEND", "");
}

// Every pixel index `index`.
inline std::string PalettePng(int entries, uint8_t index) {
  return PalettePng(entries, std::vector<uint8_t>(28 * 28, index));
}

// A valid PNG cut in the middle of its IDAT chunk (no CRC, no IEND).
inline std::string TruncatedIdatPng() {
  const std::string whole = HandGreyPng();
  // signature 8 + IHDR 25 + IDAT length/type 8 + a few bytes of its data.
  return whole.substr(0, 8 + 25 + 8 + 6);
}

// The IDAT's zlib stream ends after half the scanlines (a well-formed chunk with too little data).
inline std::string ShortIdatPng() {
  return std::string(kPngSignature, 8) + IhdrChunk(28, 28, 8, 0) +
         PngChunk("IDAT", Zlib(Scanlines8(28, 0).substr(0, 14 * 29))) + PngChunk("IEND", "");
}

// A valid PNG whose IDAT CRC is wrong.
inline std::string BadCrcPng() {
  return std::string(kPngSignature, 8) + IhdrChunk(28, 28, 8, 0) +
         PngChunk("IDAT", Zlib(Scanlines8(28, 0)), /*corrupt_crc=*/true) + PngChunk("IEND", "");
}

// A valid PNG without its final IEND chunk: a truncated file.
inline std::string NoIendPng() {
  const std::string whole = HandGreyPng();
  return whole.substr(0, whole.size() - 12);
}

// The PNG signature followed by bytes that are no chunk at all.
inline std::string GarbageAfterSignaturePng() {
  return std::string(kPngSignature, 8) + std::string("this is not a PNG chunk stream at all");
}

// IHDR then IEND: no image data.
inline std::string NoIdatPng() {
  return std::string(kPngSignature, 8) + IhdrChunk(28, 28, 8, 0) + PngChunk("IEND", "");
}

}  // namespace ternserve::testing

#endif  // TERNSERVE_TESTS_TESTING_HOSTILE_PNGS_H_
