// The primitives of the CUDA ternary kernels' bodies (ternary_cuda_body.h): the only code that
// differs between the device and the CPU emulation, and the weight expansion they share.
//
// Selected by __CUDA_ARCH__: the int8x4 dot product (PTX dp4a.u32.s32: u8 activations x s8
// weights, 4 products added to an int32; on the host an exact scalar sum), the IEEE float ops
// (__fmul_rn / __fadd_rn / __fsub_rn / __fdiv_rn / __int2float_rn, which no --fmad setting
// contracts; on the host plain ops in a TU built with -ffp-contract=off), round-half-to-even
// (rintf; std::nearbyint in the default rounding mode, as conv_params.h uses) and 4-byte word
// access. The weight expansion is the same code on both: a WeightBlock's 2-bit masks to int8x4 dp4a
// operands.
//
// Plain C++17 for g++ and nvcc; pure functions.
#ifndef TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_PRIMITIVES_H_
#define TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_PRIMITIVES_H_

#include <cmath>
#include <cstdint>
#include <cstring>

#include "models/kernels/ternary_blocks.h"

#ifdef __CUDACC__
#define TS_HOST_DEVICE __host__ __device__
#else
#define TS_HOST_DEVICE
#endif
// Full unrolling of the per-thread tile loops on the device (their accumulators must live in
// registers); g++ needs no hint and would warn about nvcc's pragma.
#ifdef __CUDA_ARCH__
#define TS_UNROLL _Pragma("unroll")
#else
#define TS_UNROLL
#endif

namespace ternserve::kernels::cuda {

// ---- Primitives: the only code that differs between the device and the emulation. ----

// c + sum over bytes i of u8(a_i) * s8(b_i), in int32 (wrapping, as the hardware does; the conv's
// sums never wrap).
TS_HOST_DEVICE inline int32_t Dp4aU8S8(uint32_t a, uint32_t b, int32_t c) {
#ifdef __CUDA_ARCH__
  int32_t d;
  asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
  return d;
#else
  uint32_t sum = static_cast<uint32_t>(c);
  for (int i = 0; i < 4; ++i) {
    const uint32_t x = (a >> (8 * i)) & 0xFFu;
    const uint32_t w = (b >> (8 * i)) & 0xFFu;
    const int32_t signed_w = static_cast<int32_t>(w) - static_cast<int32_t>((w & 0x80u) << 1);
    sum += static_cast<uint32_t>(static_cast<int32_t>(x) * signed_w);
  }
  return static_cast<int32_t>(sum);
#endif
}

// IEEE single-precision ops rounded to nearest even, never fused.
TS_HOST_DEVICE inline float MulRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
TS_HOST_DEVICE inline float AddRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
TS_HOST_DEVICE inline float SubRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
TS_HOST_DEVICE inline float DivRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
TS_HOST_DEVICE inline float IntToFloatRn(int32_t v) {
#ifdef __CUDA_ARCH__
  return __int2float_rn(v);
#else
  return static_cast<float>(v);
#endif
}
// Round half to even (std::nearbyint in the default rounding mode, as conv_params.h uses).
TS_HOST_DEVICE inline float RoundHalfEven(float v) {
#ifdef __CUDA_ARCH__
  return rintf(v);
#else
  return std::nearbyint(v);
#endif
}

// A little-endian 4-byte word at p (4-byte aligned on the device); x86 and the GPU agree.
TS_HOST_DEVICE inline uint32_t LoadWord(const uint8_t* p) {
#ifdef __CUDA_ARCH__
  return *reinterpret_cast<const uint32_t*>(p);
#else
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
#endif
}
TS_HOST_DEVICE inline void StoreWord(uint8_t* p, uint32_t v) {
#ifdef __CUDA_ARCH__
  *reinterpret_cast<uint32_t*>(p) = v;
#else
  std::memcpy(p, &v, sizeof(v));
#endif
}

// ---- Weight expansion. ----

// Bit j of `nibble` (j < 4) to byte j (0 or 1): the shifted copies n << 7j land in disjoint bit
// ranges (0-3, 7-10, 14-17, 21-24), so the multiply has no carries and bit j sits at bit 8j.
TS_HOST_DEVICE inline uint32_t SpreadNibble(uint32_t nibble) {
  return (nibble * 0x00204081u) & 0x01010101u;
}

// The int8x4 word of 4 weights from disjoint plus / minus nibbles (no bit set in both): byte j is
// +1, -1 (0xFF) or 0. Disjoint bytes of 1 and 0xFF add without carries.
TS_HOST_DEVICE inline uint32_t ExpandDisjointNibbles(uint32_t plus, uint32_t minus) {
  return SpreadNibble(plus) + SpreadNibble(minus) * 0xFFu;
}

// The same for any pair, as WeightBlock::At reads it: a bit set in both masks is weight 0.
TS_HOST_DEVICE inline uint32_t ExpandWeightNibbles(uint32_t plus, uint32_t minus) {
  return ExpandDisjointNibbles(plus & ~minus, minus & ~plus);
}

// The 16 bits of each mask that hold a quad's 4 output channels (bits 4c + j: channel c of the
// quad, input j of the group), made disjoint, with inputs outside `input_mask16` cleared.
struct WeightQuad {
  uint32_t plus;
  uint32_t minus;
};
TS_HOST_DEVICE inline WeightQuad LoadWeightQuad(const WeightBlock& block, int quad_in_block,
                                                uint32_t input_mask16) {
  const uint32_t plus = static_cast<uint32_t>(block.plus >> (16 * quad_in_block)) & 0xFFFFu;
  const uint32_t minus = static_cast<uint32_t>(block.minus >> (16 * quad_in_block)) & 0xFFFFu;
  return WeightQuad{plus & ~minus & input_mask16, minus & ~plus & input_mask16};
}

}  // namespace ternserve::kernels::cuda

#endif  // TERNSERVE_MODELS_KERNELS_CUDA_TERNARY_CUDA_PRIMITIVES_H_
