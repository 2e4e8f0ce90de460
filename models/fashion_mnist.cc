#include "models/fashion_mnist.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ternserve {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;

uint32_t ReadBigEndian32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

absl::Status CheckMagic(const std::string& bytes, const std::string& source, uint32_t expected,
                        size_t header_bytes) {
  if (bytes.size() < header_bytes) {
    return absl::DataLossError(absl::StrCat(source, ": ", bytes.size(),
                                            " bytes is shorter than the IDX header (", header_bytes,
                                            " bytes)"));
  }
  const uint32_t magic = ReadBigEndian32(bytes, 0);
  if (magic != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": IDX magic 0x", absl::Hex(magic, absl::kZeroPad8), ", expected 0x",
                     absl::Hex(expected, absl::kZeroPad8)));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& FashionMnistLabels() {
  static const auto* labels =
      new std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return *labels;
}

void ImageSet::AppendImageAsFloat(int64_t i, std::vector<float>* out) const {
  const int64_t n = static_cast<int64_t>(rows) * cols;
  const uint8_t* p = pixels.data() + i * n;
  for (int64_t j = 0; j < n; ++j) out->push_back(p[j] / 255.0f);
}

absl::StatusOr<std::string> ReadMaybeGzip(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open (", std::strerror(errno), ")"));
  std::stringstream raw;
  raw << file.rdbuf();
  std::string bytes = raw.str();
  if (bytes.size() < 2 || static_cast<unsigned char>(bytes[0]) != 0x1f ||
      static_cast<unsigned char>(bytes[1]) != 0x8b) {
    return bytes;
  }
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
    return absl::InternalError("zlib inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(bytes.data());
  zs.avail_in = static_cast<uInt>(bytes.size());
  std::string out;
  char buffer[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buffer);
    zs.avail_out = sizeof(buffer);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buffer, sizeof(buffer) - zs.avail_out);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ended before the stream did
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    return absl::DataLossError(
        absl::StrCat(path, ": corrupt or truncated gzip stream (zlib code ", rc, ")"));
  }
  return out;
}

absl::StatusOr<ImageSet> ParseIdxImages(const std::string& bytes, const std::string& source) {
  constexpr size_t kHeader = 16;
  if (auto s = CheckMagic(bytes, source, kImagesMagic, kHeader); !s.ok()) return s;
  ImageSet set;
  set.count = ReadBigEndian32(bytes, 4);
  set.rows = static_cast<int>(ReadBigEndian32(bytes, 8));
  set.cols = static_cast<int>(ReadBigEndian32(bytes, 12));
  if (set.rows != 28 || set.cols != 28) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": images are ", set.rows, "x", set.cols, ", expected 28x28"));
  }
  const size_t payload = static_cast<size_t>(set.count) * set.rows * set.cols;
  if (bytes.size() - kHeader != payload) {
    return absl::DataLossError(absl::StrCat(source, ": header says ", set.count, " images (",
                                            payload, " bytes) but the file holds ",
                                            bytes.size() - kHeader));
  }
  set.pixels.assign(bytes.begin() + kHeader, bytes.end());
  return set;
}

absl::StatusOr<std::vector<uint8_t>> ParseIdxLabels(const std::string& bytes,
                                                    const std::string& source) {
  constexpr size_t kHeader = 8;
  if (auto s = CheckMagic(bytes, source, kLabelsMagic, kHeader); !s.ok()) return s;
  const size_t count = ReadBigEndian32(bytes, 4);
  if (bytes.size() - kHeader != count) {
    return absl::DataLossError(absl::StrCat(source, ": header says ", count,
                                            " labels but the file holds ", bytes.size() - kHeader));
  }
  std::vector<uint8_t> labels(bytes.begin() + kHeader, bytes.end());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= FashionMnistLabels().size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": label ", i, " is ", labels[i], ", expected 0..9"));
    }
  }
  return labels;
}

absl::StatusOr<ImageSet> ReadIdxImages(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadMaybeGzip(path);
  if (!bytes.ok()) return bytes.status();
  return ParseIdxImages(*bytes, path);
}

absl::StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadMaybeGzip(path);
  if (!bytes.ok()) return bytes.status();
  return ParseIdxLabels(*bytes, path);
}

absl::StatusOr<ImageSet> LoadFashionMnist(const std::string& dir, FashionMnistSplit split) {
  const std::string prefix = split == FashionMnistSplit::kTrain ? "train" : "t10k";
  auto existing = [&](const std::string& base) {
    const std::string plain = absl::StrCat(dir, "/", prefix, "-", base);
    return std::ifstream(plain).good() ? plain : plain + ".gz";
  };
  absl::StatusOr<ImageSet> images = ReadIdxImages(existing("images-idx3-ubyte"));
  if (!images.ok()) return images.status();
  const std::string labels_path = existing("labels-idx1-ubyte");
  absl::StatusOr<std::vector<uint8_t>> labels = ReadIdxLabels(labels_path);
  if (!labels.ok()) return labels.status();
  if (static_cast<int64_t>(labels->size()) != images->count) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels_path, ": ", labels->size(), " labels for ", images->count, " images"));
  }
  images->labels = *std::move(labels);
  return images;
}

}  // namespace ternserve
