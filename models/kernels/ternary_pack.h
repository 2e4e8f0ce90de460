// Packed 2-bit ternary weight codes: the storage format of every ternary weight in a bundle.
//
// A weight matrix [rows][k] (for a conv: rows = output channels, k = in_channels * kh * kw, in that
// order) is stored row by row; a row takes PackedRowBytes(k) bytes and code i of a row sits in byte
// i / 4 at bits 2 * (i % 4). A code is the two's-complement 2-bit value of t: 0b00 = 0, 0b01 = +1,
// 0b11 = -1; 0b10 is invalid. Because the input channel is the slowest index within a row,
// WeightSlice (the leading in_channels) is a prefix of every row, and the leading rows are the
// leading output channels.
//
// Pure functions, thread-safe. No dependencies beyond libc.
#ifndef TERNSERVE_MODELS_KERNELS_TERNARY_PACK_H_
#define TERNSERVE_MODELS_KERNELS_TERNARY_PACK_H_

#include <cstddef>
#include <cstdint>

namespace ternserve::kernels {

inline constexpr uint8_t kCodeZero = 0b00;
inline constexpr uint8_t kCodePlus = 0b01;
inline constexpr uint8_t kCodeMinus = 0b11;
inline constexpr uint8_t kCodeInvalid = 0b10;

// Four codes per byte.
struct PackedQuad {
  uint8_t bits;
};
static_assert(sizeof(PackedQuad) == 1, "a packed quad is one byte");

constexpr size_t PackedRowBytes(int64_t k) { return static_cast<size_t>((k + 3) / 4); }
constexpr size_t PackedMatrixBytes(int64_t rows, int64_t k) {
  return static_cast<size_t>(rows) * PackedRowBytes(k);
}

// Packs t[0..rows*k) (each -1, 0 or +1) into out[0..PackedMatrixBytes). Returns false, writing
// nothing meaningful, if a value is outside {-1, 0, +1}. Padding codes at the end of a row are
// zero.
bool PackTernary(const int8_t* t, int64_t rows, int64_t k, uint8_t* out);

// Code i of a packed row (kCodeZero, kCodePlus, kCodeMinus or kCodeInvalid).
inline uint8_t CodeAt(const uint8_t* row, int64_t i) {
  return (row[i >> 2] >> ((i & 3) * 2)) & 0b11;
}

// Code i of a packed row as -1, 0 or +1 (an invalid code reads as -2; Validate first).
inline int8_t TernaryAt(const uint8_t* row, int64_t i) {
  return static_cast<int8_t>(static_cast<int8_t>(CodeAt(row, i) << 6) >> 6);
}

// True if no code in the matrix is the invalid 0b10 and every padding code is zero.
bool ValidatePackedTernary(const uint8_t* packed, int64_t rows, int64_t k);

// Number of zero codes in the leading sub-matrix [rows_used][k_used] of a packed [*][k] matrix.
int64_t CountZeroCodes(const uint8_t* packed, int64_t k, int64_t rows_used, int64_t k_used);

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_TERNARY_PACK_H_
