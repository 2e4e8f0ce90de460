// Tests for server/image_decoder.cc: PNG (every colour type) and PGM decoding, sizes, garbage.
#include "server/image_decoder.h"

#include <spng.h>

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
}

}  // namespace
}  // namespace ternserve
