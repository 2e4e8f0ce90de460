#include "models/bundle.h"

#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/kernels/ternary_pack.h"
#include "tests/testing/synthetic_bundle.h"

namespace ternserve {
namespace {

using ::ternserve::testing::FixChecksum;
using ::ternserve::testing::SyntheticBundleBytes;
using ::ternserve::testing::SyntheticBundleOptions;
using ::ternserve::testing::SyntheticMetadata;
using ::ternserve::testing::SyntheticWriter;
using ::testing::HasSubstr;

absl::Status OpenBytes(std::string bytes) {
  return Bundle::FromBytes(std::move(bytes), "test.tsn").status();
}

// Rewrites the metadata JSON in place (same length, padded with spaces) and fixes the checksum.
std::string EditMetadata(std::string bytes, const std::string& from, const std::string& to) {
  uint64_t length;
  std::memcpy(&length, bytes.data() + 8, 8);
  std::string json = bytes.substr(kBundleHeaderBytes, length);
  const size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  json.replace(at, from.size(), to);
  json = nlohmann::json::parse(json).dump();  // compact, so a longer edit still fits
  EXPECT_LE(json.size(), length);
  json.resize(length, ' ');
  bytes.replace(kBundleHeaderBytes, length, json);
  FixChecksum(&bytes);
  return bytes;
}

// Rewrites the metadata as JSON (compact, padded with spaces to its length) and fixes the checksum.
template <typename Edit>
std::string EditMetadataJson(std::string bytes, Edit edit) {
  uint64_t length;
  std::memcpy(&length, bytes.data() + 8, 8);
  nlohmann::json json = nlohmann::json::parse(bytes.substr(kBundleHeaderBytes, length));
  edit(&json);
  std::string text = json.dump();
  EXPECT_LE(text.size(), length);
  text.resize(length, ' ');
  bytes.replace(kBundleHeaderBytes, length, text);
  FixChecksum(&bytes);
  return bytes;
}

TEST(BundleTest, RoundTripsMetadataAndTensors) {
  const std::string bytes = SyntheticBundleBytes();
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::FromBytes(bytes, "rt.tsn");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const BundleMetadata expected = SyntheticMetadata({});
  const BundleMetadata& m = (*bundle)->metadata();
  EXPECT_EQ(m.model_name, expected.model_name);
  EXPECT_EQ(m.labels, expected.labels);
  EXPECT_EQ(m.quantizer, "twn");
  EXPECT_TRUE(m.ternary);
  EXPECT_FLOAT_EQ(m.input_mean, 0.25f);
  EXPECT_FLOAT_EQ(m.input_std, 0.5f);
  ASSERT_EQ(m.subnets.size(), 2u);
  for (size_t i = 0; i < m.subnets.size(); ++i) {
    EXPECT_EQ(m.subnets[i].config, expected.subnets[i].config);
    EXPECT_EQ(m.subnets[i].name, expected.subnets[i].name);
    EXPECT_EQ(m.subnets[i].macs, expected.subnets[i].macs);
    EXPECT_DOUBLE_EQ(m.subnets[i].test_accuracy, expected.subnets[i].test_accuracy);
  }
  EXPECT_EQ((*bundle)->LargestSubnet().config, LargestSubnet(m.arch));
  EXPECT_EQ((*bundle)->FindSubnet(7), nullptr);
  EXPECT_EQ((*bundle)->Tensor("nope").status().code(), absl::StatusCode::kNotFound);

  absl::StatusOr<TensorView> codes = (*bundle)->Tensor("s1.b0.conv1.codes");
  ASSERT_TRUE(codes.ok());
  EXPECT_EQ(codes->shape, (std::vector<int64_t>{64, 32, 3, 3}));

  // SlicedWeights = code * per-channel scale on the leading channels.
  const LayerSpec* conv = nullptr;
  const std::vector<LayerSpec> layers = SupernetLayers(m.arch);
  for (const LayerSpec& l : layers) conv = l.name == "s1.b0.conv1" ? &l : conv;
  const std::vector<float> w = (*bundle)->SlicedWeights(*conv, 16, 8);
  ASSERT_EQ(w.size(), 16u * 8 * 9);
  const float* scale = (*bundle)->Tensor("s1.b0.conv1.scale")->floats();
  for (int o = 0; o < 16; ++o) {
    for (int j = 0; j < 8 * 9; ++j) {
      const int8_t t = kernels::TernaryAt(codes->data + o * kernels::PackedRowBytes(32 * 9), j);
      ASSERT_FLOAT_EQ(w[o * 72 + j], t * scale[o]);
    }
  }
}

TEST(BundleTest, SectionsAreAlignedAndSized) {
  absl::StatusOr<std::unique_ptr<Bundle>> bundle =
      Bundle::FromBytes(SyntheticBundleBytes(), "a.tsn");
  ASSERT_TRUE(bundle.ok());
  // stem.codes is the first section, at the (64-aligned) start of the data region.
  const uint8_t* first = (*bundle)->Tensor("stem.codes")->data;
  for (const char* name :
       {"stem.codes", "s2.b2.conv2.codes", "fc.bias", "subnet.1.stem.bn.shift"}) {
    const TensorView v = *(*bundle)->Tensor(name);
    EXPECT_EQ((v.data - first) % 64, 0) << name;
    EXPECT_EQ(v.bytes, v.dtype == DType::kFloat32
                           ? static_cast<size_t>(v.numel()) * 4
                           : kernels::PackedMatrixBytes(v.shape[0], v.numel() / v.shape[0]))
        << name;
  }
}

TEST(BundleTest, Fp32BundleRoundTrips) {
  SyntheticBundleOptions options;
  options.ternary = false;
  absl::StatusOr<std::unique_ptr<Bundle>> bundle =
      Bundle::FromBytes(SyntheticBundleBytes(options), "f.tsn");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_FALSE((*bundle)->metadata().ternary);
  EXPECT_TRUE((*bundle)->Tensor("stem.weight").ok());
  EXPECT_FALSE((*bundle)->Tensor("stem.codes").ok());
}

TEST(BundleTest, OpensFromFileAndNamesMissingFile) {
  const std::string path = ::testing::TempDir() + "/ok.tsn";
  ASSERT_TRUE(SyntheticWriter({}).WriteFile(path).ok());
  EXPECT_TRUE(Bundle::Open(path).ok());
  absl::Status missing = Bundle::Open(path + ".missing").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr("ok.tsn.missing"));
}

TEST(BundleTest, RejectsTruncated) {
  std::string bytes = SyntheticBundleBytes();
  for (size_t keep : {bytes.size() - 1, bytes.size() / 2, size_t{30}, size_t{5}}) {
    absl::Status s = OpenBytes(bytes.substr(0, keep));
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << keep;
    EXPECT_THAT(s.message(), HasSubstr("bundle test.tsn: truncated")) << keep;
  }
}

TEST(BundleTest, RejectsTrailingGarbage) {
  absl::Status s = OpenBytes(SyntheticBundleBytes() + "xx");
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("2 trailing bytes"));
}

TEST(BundleTest, RejectsBitFlipAnywhere) {
  const std::string bytes = SyntheticBundleBytes();
  for (size_t at : {size_t{100}, bytes.size() / 2, bytes.size() - 20}) {
    std::string flipped = bytes;
    flipped[at] ^= 0x10;
    absl::Status s = OpenBytes(flipped);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << at;
    EXPECT_THAT(s.message(), HasSubstr("checksum mismatch")) << at;
  }
}

TEST(BundleTest, RejectsBadMagicAndVersion) {
  std::string bytes = SyntheticBundleBytes();
  bytes[0] = 'X';
  absl::Status s = OpenBytes(bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("not a Ternserve bundle"));

  bytes = SyntheticBundleBytes();
  const uint32_t version = 99;
  std::memcpy(bytes.data() + 4, &version, 4);
  FixChecksum(&bytes);
  s = OpenBytes(bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("format version 99"));
}

TEST(BundleTest, RejectsShapeMismatch) {
  // Every layer's codes and scales, but s1.b0.conv1 has 63 output channels instead of 64.
  const BundleMetadata m = SyntheticMetadata({});
  BundleWriter bad(m);
  for (const LayerSpec& layer : SupernetLayers(m.arch)) {
    std::vector<int64_t> shape = {layer.out_channels, layer.in_channels};
    if (layer.name != "fc") shape.insert(shape.end(), {layer.kernel, layer.kernel});
    if (layer.name == "s1.b0.conv1") shape[0] = 63;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    ASSERT_TRUE(bad.AddTernary(layer.name + ".codes", shape, std::vector<int8_t>(n, 1)).ok());
    ASSERT_TRUE(bad.AddFloat(layer.name + ".scale", {layer.out_channels},
                             std::vector<float>(layer.out_channels, 1))
                    .ok());
  }
  absl::Status s = OpenBytes(bad.Serialize());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("section \"s1.b0.conv1.codes\" is ternary2 [63,32,3,3], the architecture "
                        "needs ternary2 [64,32,3,3]"));
}

TEST(BundleTest, RejectsMissingAndUnexpectedSections) {
  std::string bytes = EditMetadata(SyntheticBundleBytes(), "\"fc.bias\"", "\"fc.bia\" ");
  absl::Status s = OpenBytes(bytes);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("missing section \"fc.bias\""));

  BundleWriter writer = SyntheticWriter({});
  ASSERT_TRUE(writer.AddFloat("extra", {1}, {1.0f}).ok());
  s = OpenBytes(writer.Serialize());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unexpected section \"extra\""));
}

TEST(BundleTest, RejectsBadMetadataFieldsByName) {
  struct Case {
    std::string from, to, message;
  } cases[] = {
      {"\"format\": \"ternserve-bundle\"", "\"format\": \"other\"", "metadata field format"},
      {"\"quantizer\": \"twn\"", "\"quantizer\": \"xyz\"", "metadata field quantizer"},
      {"\"num_classes\": 10", "\"num_classes\": 11", "metadata field labels: expected 11 strings"},
      {"\"test_accuracy\": 0.6", "\"test_accuracy\": 1.6",
       "metadata field subnets[0].test_accuracy"},
      {"\"model_name\"", "\"model_nam\" ", "metadata field model_name: missing"},
  };
  for (const Case& c : cases) {
    absl::Status s = OpenBytes(EditMetadata(SyntheticBundleBytes(), c.from, c.to));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.to;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << s;
  }
}

TEST(BundleTest, RejectsSubnetOffTheGrid) {
  SyntheticBundleOptions options;
  BundleMetadata m = SyntheticMetadata(options);
  m.subnets[1].config.widths[0] = 9;
  BundleWriter writer(m);
  absl::Status s = OpenBytes(writer.Serialize());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("subnets[1]: stage 0 width 9 is not a width choice"));
}

TEST(BundleTest, RejectsMisalignedOrOverlappingSections) {
  const std::string bytes = SyntheticBundleBytes();
  absl::Status s = OpenBytes(EditMetadata(bytes, "\"offset\": 128,", "\"offset\": 129,"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("not 64-byte aligned"));
  s = OpenBytes(EditMetadata(bytes, "\"offset\": 128,", "\"offset\": 0,  "));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("sections overlap"));
  s = OpenBytes(EditMetadata(bytes, "\"offset\": 128,", "\"offset\": 99999872,"));
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("run past the data region"));
}

TEST(BundleTest, RejectsAShapeWhoseElementsOverflow) {
  // Each dimension is in range, their product (2^80) is not: found by bundle_fuzz (UBSan: signed
  // overflow in ExpectedBytes).
  const absl::Status s = OpenBytes(EditMetadataJson(SyntheticBundleBytes(), [](nlohmann::json* j) {
    (*j)["sections"][0]["shape"] = {1 << 20, 1 << 20, 1 << 20, 1 << 20};
  }));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("sections[0].shape: more than 2^40 elements"));
}

TEST(BundleTest, RejectsAnIntegerThatOnlyFitsOnceNarrowed) {
  // 2^32 + 32 would read as 32 if narrowed to int before the range check.
  const absl::Status s = OpenBytes(EditMetadataJson(SyntheticBundleBytes(), [](nlohmann::json* j) {
    (*j)["arch"]["max_widths"][0] = (int64_t{1} << 32) + 32;
  }));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("arch.max_widths: 4294967328 is outside [1, 4096]"));
}

TEST(BundleTest, RejectsInvalidCodesAndNonFiniteFloats) {
  BundleWriter writer = SyntheticWriter({});
  std::string bytes = writer.Serialize();
  absl::StatusOr<std::unique_ptr<Bundle>> ok = Bundle::FromBytes(bytes, "x");
  ASSERT_TRUE(ok.ok());
  const uint8_t* base = (*ok)->Tensor("stem.codes")->data;  // the first section
  const uint8_t* fc_bias = (*ok)->Tensor("fc.bias")->data;
  uint64_t length;
  std::memcpy(&length, bytes.data() + 8, 8);
  const size_t data_start = (kBundleHeaderBytes + length + 63) / 64 * 64;
  const size_t stem_offset = data_start + 0;  // stem.codes is the first section
  std::string bad_code = bytes;
  bad_code[stem_offset] = static_cast<char>(0b10);
  FixChecksum(&bad_code);
  absl::Status s = OpenBytes(bad_code);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("section \"stem.codes\" holds an invalid 2-bit code"));

  std::string nan = bytes;
  const size_t bias_offset = data_start + static_cast<size_t>(fc_bias - base);
  const float not_a_number = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan.data() + bias_offset, &not_a_number, 4);
  FixChecksum(&nan);
  s = OpenBytes(nan);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("section \"fc.bias\" value 0 is not finite"));
}

// Activation scales are optional, but when present they must name exactly the sub-net's activation
// tensors, each with a finite scale > 0; a copied bundle keeps them.
TEST(BundleTest, ActivationScalesRoundTripAndAreValidated) {
  BundleWriter writer = SyntheticWriter({});
  for (SubnetMeta& s : writer.metadata().subnets) {
    for (const std::string& name : ActivationNames(writer.metadata().arch, s.config)) {
      s.activation_scales[name] = 0.125f;
    }
  }
  const std::string bytes = writer.Serialize();
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::FromBytes(bytes, "scales.tsn");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const SubnetMeta& s0 = (*bundle)->metadata().subnets[0];
  EXPECT_EQ(s0.activation_scales.size(), ActivationNames(ArchConfig{}, s0.config).size());
  EXPECT_FLOAT_EQ(s0.activation_scales.at("stem"), 0.125f);
  EXPECT_FLOAT_EQ(s0.activation_scales.at("pool"), 0.125f);

  const std::string copied = BundleWriter::CopyOf(**bundle).Serialize();
  absl::StatusOr<std::unique_ptr<Bundle>> copy = Bundle::FromBytes(copied, "copy.tsn");
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ((*copy)->metadata().subnets[0].activation_scales, s0.activation_scales);
  EXPECT_EQ((*copy)->SectionNames(), (*bundle)->SectionNames());

  EXPECT_THAT(OpenBytes(EditMetadata(bytes, "\"stem\": 0.125", "\"stem\":-1.0")).message(),
              HasSubstr("subnets[0].activation_scales.stem: -1 is not a finite scale > 0"));
  EXPECT_THAT(OpenBytes(EditMetadata(bytes, "\"stem\": 0.125", "\"stex\":0.125")).message(),
              HasSubstr("subnets[0].activation_scales: missing \"stem\""));
  EXPECT_THAT(OpenBytes(EditMetadata(bytes, "\"pool\": 0.125", "\"pool\":0.125,\"x\":1")).message(),
              HasSubstr("unexpected \"x\""));
}

TEST(BundleTest, ChecksumIsTheTrailersCrc32) {
  const std::string bytes = testing::SyntheticBundleBytes();
  absl::StatusOr<std::unique_ptr<Bundle>> bundle = Bundle::FromBytes(bytes, "synthetic");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const size_t at = bytes.size() - kBundleTrailerBytes;
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(at)));
  char expected[32];
  std::snprintf(expected, sizeof expected, "crc32:%08x", crc);
  EXPECT_EQ((*bundle)->checksum(), expected);
}

}  // namespace
}  // namespace ternserve
