// Reader for Fashion-MNIST in IDX format (gzip-compressed or plain), as shipped by Debian's
// dataset-fashion-mnist in /usr/share/datasets/fashion-mnist/.
//
// Validates the IDX magic numbers (0x00000803 images, 0x00000801 labels), the dimensions (28x28),
// that the payload length matches the header, that labels are < 10 and that image and label counts
// agree. Errors name the file and the fault. Thread-compatible value types; no LibTorch.
#ifndef TERNSERVE_MODELS_FASHION_MNIST_H_
#define TERNSERVE_MODELS_FASHION_MNIST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ternserve {

inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// The class names, in label order.
const std::vector<std::string>& FashionMnistLabels();

struct ImageSet {
  int64_t count = 0;
  int rows = 0;
  int cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major
  std::vector<uint8_t> labels;  // count

  // Image i as floats in [0, 1] (byte / 255), appended to out.
  void AppendImageAsFloat(int64_t i, std::vector<float>* out) const;
};

// Reads a whole file, un-gzipping it if it starts with the gzip magic.
absl::StatusOr<std::string> ReadMaybeGzip(const std::string& path);

absl::StatusOr<ImageSet> ReadIdxImages(const std::string& path);
absl::StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path);
// Parses already-decompressed IDX bytes; `source` names them in errors.
absl::StatusOr<ImageSet> ParseIdxImages(const std::string& bytes, const std::string& source);
absl::StatusOr<std::vector<uint8_t>> ParseIdxLabels(const std::string& bytes,
                                                    const std::string& source);

enum class FashionMnistSplit { kTrain, kTest };
// images + labels of a split from `dir` ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]).
absl::StatusOr<ImageSet> LoadFashionMnist(const std::string& dir, FashionMnistSplit split);

}  // namespace ternserve

#endif  // TERNSERVE_MODELS_FASHION_MNIST_H_
