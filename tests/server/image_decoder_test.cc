// Tests for server/image_decoder.cc: PNG (every colour type) and PGM decoding, sizes, garbage,
// hostile PNGs (tests/testing/hostile_pngs.h).
#include "server/image_decoder.h"

#include <spng.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/hostile_pngs.h"
#include "tests/testing/test_images.h"

namespace ternserve {
namespace {

using ::ternserve::testing::EncodePng;
using ::ternserve::testing::GreyPng;
using ::ternserve::testing::Pattern;
using ::ternserve::testing::Pgm;
using ::testing::HasSubstr;

constexpr int kPixels = 28 * 28;

void ExpectPattern(const absl::StatusOr<std::vector<float>>& decoded, float scale = 255.0f) {
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->size(), static_cast<size_t>(kPixels));
  const std::vector<uint8_t> pattern = Pattern();
  for (int i = 0; i < kPixels; ++i) {
    ASSERT_FLOAT_EQ((*decoded)[i], pattern[i] / scale) << "pixel " << i;
  }
}

void ExpectInvalid(const absl::StatusOr<std::vector<float>>& decoded,
                   const std::string& substring) {
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << decoded.status();
  EXPECT_THAT(decoded.status().message(), HasSubstr(substring));
}

TEST(ImageDecoderTest, GreyPngIsExact) { ExpectPattern(DecodeImage(GreyPng(28, 28, Pattern()))); }

TEST(ImageDecoderTest, GreyRgbAndRgbaPngsAreExact) {
  std::string rgb, rgba, grey_alpha;
  for (uint8_t v : Pattern()) {
    rgb += std::string(3, static_cast<char>(v));
    rgba += std::string(3, static_cast<char>(v)) + '\x80';  // alpha is ignored
    grey_alpha += std::string{static_cast<char>(v), '\x10'};
  }
  ExpectPattern(DecodeImage(EncodePng(28, 28, SPNG_COLOR_TYPE_TRUECOLOR, 8, rgb)));
  ExpectPattern(DecodeImage(EncodePng(28, 28, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA, 8, rgba)));
  ExpectPattern(DecodeImage(EncodePng(28, 28, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, 8, grey_alpha)));
}

TEST(ImageDecoderTest, ColourPngIsConvertedToLuma) {
  std::string rgb;
  for (int i = 0; i < kPixels; ++i) rgb += std::string{'\xff', '\x00', '\x00'};  // pure red
  absl::StatusOr<std::vector<float>> decoded =
      DecodeImage(EncodePng(28, 28, SPNG_COLOR_TYPE_TRUECOLOR, 8, rgb));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_NEAR((*decoded)[0], 0.299f, 1e-5);
  EXPECT_NEAR((*decoded)[kPixels - 1], 0.299f, 1e-5);
}

TEST(ImageDecoderTest, SixteenBitAndLowBitDepthGreyPngs) {
  std::string grey16;
  for (uint8_t v : Pattern()) grey16 += std::string{static_cast<char>(v), static_cast<char>(v)};
  ExpectPattern(DecodeImage(EncodePng(28, 28, SPNG_COLOR_TYPE_GRAYSCALE, 16, grey16)));

  // 1-bit: 28 pixels per row pack into 4 bytes; rows alternate all-white / all-black.
  std::string grey1;
  for (int row = 0; row < 28; ++row) grey1 += std::string(4, row % 2 == 0 ? '\xff' : '\x00');
  absl::StatusOr<std::vector<float>> decoded =
      DecodeImage(EncodePng(28, 28, SPNG_COLOR_TYPE_GRAYSCALE, 1, grey1));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)[0], 1.0f);
  EXPECT_EQ((*decoded)[28], 0.0f);
}

TEST(ImageDecoderTest, WrongSizePngNamesTheSize) {
  ExpectInvalid(DecodeImage(GreyPng(27, 28, Pattern(27 * 28))),
                "PNG image is 27x28, expected 28x28");
  ExpectInvalid(DecodeImage(GreyPng(28, 1, Pattern(28))), "28x1");
}

TEST(ImageDecoderTest, GarbageIsInvalidArgument) {
  ExpectInvalid(DecodeImage("hello, world"), "neither a PNG nor a binary PGM");
  ExpectInvalid(DecodeImage(""), "neither a PNG nor a binary PGM");
  // A PNG signature followed by junk.
  ExpectInvalid(DecodeImage(std::string("\x89PNG\r\n\x1a\n", 8) + "junkjunkjunkjunk"),
                "not a valid PNG");
  // A real PNG, truncated.
  const std::string png = GreyPng(28, 28, Pattern());
  ExpectInvalid(DecodeImage(png.substr(0, png.size() / 2)), "not a valid PNG");
  // A corrupted CRC.
  std::string corrupt = png;
  corrupt[40] = static_cast<char>(corrupt[40] ^ 0x55);
  ExpectInvalid(DecodeImage(corrupt), "not a valid PNG");
}

TEST(ImageDecoderTest, PalettePngsOfEveryBitDepthAreLookedUp) {
  for (uint8_t bits : {1, 2, 4, 8}) {
    SCOPED_TRACE(absl::StrCat(bits, "-bit palette"));
    const int entries = 1 << bits;
    std::vector<uint8_t> indices(kPixels);
    for (int i = 0; i < kPixels; ++i) indices[i] = static_cast<uint8_t>((i * 7) % entries);
    absl::StatusOr<std::vector<float>> decoded =
        DecodeImage(testing::PalettePng(entries, indices, bits));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    for (int i = 0; i < kPixels; ++i) {
      ASSERT_FLOAT_EQ((*decoded)[i], testing::PaletteGrey(entries, indices[i]) / 255.0f)
          << "pixel " << i;
    }
  }
}

TEST(ImageDecoderTest, PaletteIndexBeyondThePaletteIsInvalid) {
  // libspng 0.7 alone decodes it to black; the PNG spec makes it an error.
  std::vector<uint8_t> indices(kPixels, 3);
  indices[28 * 5 + 2] = 16;
  ExpectInvalid(DecodeImage(testing::PalettePng(16, indices)),
                "pixel (2, 5) has palette index 16, beyond the palette's 16 entries");
  ExpectInvalid(DecodeImage(testing::PalettePng(16, uint8_t{200})), "palette index 200");
}

TEST(ImageDecoderTest, HostilePngsAreInvalidArgument) {
  ExpectInvalid(DecodeImage(testing::HugeHeaderPng()), "width exceeds user limit");
  ExpectInvalid(DecodeImage(testing::TruncatedIdatPng()), "not a valid PNG: pixel data");
  ExpectInvalid(DecodeImage(testing::ShortIdatPng()), "IDAT stream too short");
  ExpectInvalid(DecodeImage(testing::GarbageAfterSignaturePng()), "not a valid PNG: header");
  ExpectInvalid(DecodeImage(testing::NoIdatPng()), "not a valid PNG");
  // Shown only by reading on after the pixel data.
  ExpectInvalid(DecodeImage(testing::BadCrcPng()), "after the pixel data: invalid chunk checksum");
  ExpectInvalid(DecodeImage(testing::NoIendPng()), "after the pixel data");
  // The same files, intact, decode.
  ASSERT_TRUE(DecodeImage(testing::HandGreyPng()).ok());
}

TEST(ImageDecoderTest, ADecompressionBombInflatesOnlyWhatTheHeaderDeclares) {
  // 100 KB of IDAT that would inflate to 100 MB: the 28x28 image is its first 812 bytes, and
  // nothing beyond is inflated (or allocated).
  const std::string bomb = testing::DecompressionBombPng(size_t{100} << 20);
  ASSERT_LT(bomb.size(), size_t{1} << 20);
  absl::StatusOr<std::vector<float>> decoded = DecodeImage(bomb);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ((*decoded)[0], 0.0f);
}

TEST(ImageDecoderTest, PgmWithCommentsAndMaxval) {
  ExpectPattern(
      DecodeImage(Pgm("# made by a test\n28 # width\n28\n# maxval next\n255", Pattern())));
  std::vector<uint8_t> small = Pattern();
  for (uint8_t& v : small) v = v % 16;
  absl::StatusOr<std::vector<float>> decoded = DecodeImage(Pgm("28 28 15", small));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_FLOAT_EQ((*decoded)[3], small[3] / 15.0f);
}

TEST(ImageDecoderTest, BadPgms) {
  ExpectInvalid(DecodeImage(Pgm("27 28 255", Pattern(27 * 28))),
                "PGM image is 27x28, expected 28x28");
  ExpectInvalid(DecodeImage(Pgm("28 28 65535", Pattern())), "maxval is 65535");
  ExpectInvalid(DecodeImage(Pgm("28 28 0", Pattern())), "maxval '0' is not a positive integer");
  ExpectInvalid(DecodeImage(Pgm("28 x 255", Pattern())), "height 'x'");
  ExpectInvalid(DecodeImage("P5\n28 28"), "header ends before maxval");
  ExpectInvalid(DecodeImage(Pgm("28 28 255", Pattern(700))),
                "700 bytes of pixel data, expected 784");
  ExpectInvalid(DecodeImage(Pgm("28 28 10", Pattern())), "more than maxval 10");
  ExpectInvalid(DecodeImage("P2\n28 28 255\n0 0 0"), "P2");
  // A header token is quoted cut short (server/client_text.h).
  const std::string long_token = "P5\n" + std::string(100000, 'w') + " 28 255\n";
  absl::StatusOr<std::vector<float>> decoded = DecodeImage(long_token);
  ExpectInvalid(decoded, "width '" + std::string(64, 'w') + "...(100000 bytes)' is not");
  EXPECT_LT(decoded.status().message().size(), 200u);
}

}  // namespace
}  // namespace ternserve
