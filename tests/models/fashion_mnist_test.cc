#include "models/fashion_mnist.h"

#include <zlib.h>

#include <cstdio>
#include <fstream>

#include "gtest/gtest.h"

namespace ternserve {
namespace {

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string ImagesIdx(uint32_t count, uint32_t rows = 28, uint32_t cols = 28,
                      uint32_t magic = 0x803) {
  return Be32(magic) + Be32(count) + Be32(rows) + Be32(cols) +
         std::string(count * rows * cols, '\x7f');
}

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(FashionMnistTest, LoadsTheDebianDataset) {
  absl::StatusOr<ImageSet> train = LoadFashionMnist(kFashionMnistDir, FashionMnistSplit::kTrain);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->count, 60000);
  EXPECT_EQ(train->labels.size(), 60000u);
  absl::StatusOr<ImageSet> test = LoadFashionMnist(kFashionMnistDir, FashionMnistSplit::kTest);
  ASSERT_TRUE(test.ok()) << test.status();
  EXPECT_EQ(test->count, 10000);
  // The first test image is an ankle boot (class 9), the second a pullover (class 2).
  EXPECT_EQ(test->labels[0], 9);
  EXPECT_EQ(test->labels[1], 2);
  std::vector<float> pixels;
  test->AppendImageAsFloat(0, &pixels);
  ASSERT_EQ(pixels.size(), 784u);
  for (float p : pixels) ASSERT_TRUE(p >= 0.0f && p <= 1.0f);
  EXPECT_EQ(FashionMnistLabels()[9], "Ankle boot");
}

TEST(FashionMnistTest, ParsesValidImages) {
  absl::StatusOr<ImageSet> set = ParseIdxImages(ImagesIdx(3), "x");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->count, 3);
  EXPECT_EQ(set->pixels.size(), 3u * 784u);
}

TEST(FashionMnistTest, RejectsBadMagic) {
  absl::StatusOr<ImageSet> set = ParseIdxImages(ImagesIdx(1, 28, 28, 0x801), "imgs");
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find("imgs: IDX magic 0x00000801"), std::string::npos)
      << set.status();
}

TEST(FashionMnistTest, RejectsWrongImageSize) {
  absl::StatusOr<ImageSet> set = ParseIdxImages(ImagesIdx(1, 32, 32), "imgs");
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find("32x32"), std::string::npos) << set.status();
}

TEST(FashionMnistTest, RejectsTruncatedPayloadAndHeader) {
  std::string bytes = ImagesIdx(2);
  bytes.resize(bytes.size() - 1);
  EXPECT_EQ(ParseIdxImages(bytes, "imgs").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseIdxImages(bytes.substr(0, 10), "imgs").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(FashionMnistTest, RejectsLabelOutOfRange) {
  const std::string bytes = Be32(0x801) + Be32(2) + std::string("\x03\x0a", 2);
  absl::StatusOr<std::vector<uint8_t>> labels = ParseIdxLabels(bytes, "lbls");
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(labels.status().message().find("label 1 is 10"), std::string::npos) << labels.status();
}

TEST(FashionMnistTest, ReadsGzipAndRejectsCorruptGzip) {
  const std::string idx = ImagesIdx(2);
  uLongf size = compressBound(idx.size()) + 64;
  std::string gz(size, '\0');
  // gzip container via deflateInit2 with windowBits 16 + 15.
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(idx.data()));
  zs.avail_in = idx.size();
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = gz.size();
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  gz.resize(zs.total_out);
  deflateEnd(&zs);
  const std::string path = TempPath("imgs.gz");
  WriteFile(path, gz);
  absl::StatusOr<ImageSet> set = ReadIdxImages(path);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->count, 2);

  WriteFile(path, gz.substr(0, gz.size() / 2));
  EXPECT_EQ(ReadIdxImages(path).status().code(), absl::StatusCode::kDataLoss);
}

TEST(FashionMnistTest, MissingFileIsNotFound) {
  absl::StatusOr<ImageSet> set = ReadIdxImages(TempPath("does-not-exist"));
  EXPECT_EQ(set.status().code(), absl::StatusCode::kNotFound);
}

TEST(FashionMnistTest, RejectsImageLabelCountMismatch) {
  const std::string dir = TempPath("mismatch");
  std::remove((dir + "/t10k-images-idx3-ubyte").c_str());
  ASSERT_EQ(system(("mkdir -p " + dir).c_str()), 0);
  WriteFile(dir + "/t10k-images-idx3-ubyte", ImagesIdx(3));
  WriteFile(dir + "/t10k-labels-idx1-ubyte", Be32(0x801) + Be32(2) + std::string("\x01\x02", 2));
  absl::StatusOr<ImageSet> set = LoadFashionMnist(dir, FashionMnistSplit::kTest);
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(set.status().message().find("2 labels for 3 images"), std::string::npos)
      << set.status();
}

}  // namespace
}  // namespace ternserve
