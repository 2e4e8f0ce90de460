#include "models/kernels/ternary_pack.h"

#include <cstring>

namespace ternserve::kernels {

bool PackTernary(const int8_t* t, int64_t rows, int64_t k, uint8_t* out) {
  const size_t row_bytes = PackedRowBytes(k);
  std::memset(out, 0, PackedMatrixBytes(rows, k));
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = out + r * row_bytes;
    for (int64_t i = 0; i < k; ++i) {
      const int8_t v = t[r * k + i];
      if (v < -1 || v > 1) return false;
      const uint8_t code = static_cast<uint8_t>(v) & 0b11;
      row[i >> 2] |= static_cast<uint8_t>(code << ((i & 3) * 2));
    }
  }
  return true;
}

bool ValidatePackedTernary(const uint8_t* packed, int64_t rows, int64_t k) {
  const size_t row_bytes = PackedRowBytes(k);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = packed + r * row_bytes;
    for (int64_t i = 0; i < static_cast<int64_t>(row_bytes) * 4; ++i) {
      const uint8_t code = CodeAt(row, i);
      if (code == kCodeInvalid) return false;
      if (i >= k && code != kCodeZero) return false;
    }
  }
  return true;
}

int64_t CountZeroCodes(const uint8_t* packed, int64_t k, int64_t rows_used, int64_t k_used) {
  const size_t row_bytes = PackedRowBytes(k);
  int64_t zeros = 0;
  for (int64_t r = 0; r < rows_used; ++r) {
    const uint8_t* row = packed + r * row_bytes;
    for (int64_t i = 0; i < k_used; ++i) zeros += TernaryAt(row, i) == 0;
  }
  return zeros;
}

}  // namespace ternserve::kernels
