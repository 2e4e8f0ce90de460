// Ternary conv / linear kernels and the table that lists every variant (one table per weight
// format, as in ggml).
//
// Every variant computes exactly the integer accumulator and float epilogue that conv_params.h
// defines, so their outputs are bit-identical; TernaryConvScalar is the reference. A variant that
// needs an instruction set is compiled with function-level target attributes, so the library runs
// on any x86-64 CPU; its table entry's `required` features say which CPUs can run it, and the table
// answers for any CpuFeatures (cpu_features.h), not only this CPU's, so dispatch can be tested.
//
// Thread-safety: the kernels write only their outputs and per-thread scratch (thread_local int8
// weight images in the SIMD variants, reused across calls; per-call scratch rows); calls on
// disjoint outputs may run concurrently. The table is immutable.
#ifndef TERNSERVE_MODELS_KERNELS_CONV_KERNELS_H_
#define TERNSERVE_MODELS_KERNELS_CONV_KERNELS_H_

#include <cstddef>
#include <string>

#include "models/kernels/conv_params.h"
#include "models/kernels/cpu_features.h"
#include "models/kernels/ternary_blocks.h"

namespace ternserve::kernels {

// Conv with weights.kernel() x kernel() taps (3x3 with padding 1, or 1x1 with padding 0), stride
// shape.stride, from weights.in_channels to weights.out_channels.
using TernaryConvFn = void (*)(const ConvShape& shape, const ConvInput& input,
                               const TernaryConvWeights& weights, const ConvEpilogue& epilogue);

// The portable reference.
void TernaryConvScalar(const ConvShape& shape, const ConvInput& input,
                       const TernaryConvWeights& weights, const ConvEpilogue& epilogue);
// AVX2 (vpmaddubsw + vpmaddwd; ternary weights keep int16 pairs within +-510, no saturation).
// Call only if the CPU supports it (see the table).
void TernaryConvAvx2(const ConvShape& shape, const ConvInput& input,
                     const TernaryConvWeights& weights, const ConvEpilogue& epilogue);
// AVX-512 F/BW/VL/VNNI (vpdpbusd). Call only if the CPU supports it (see the table). Expands the
// 2-bit weights once per call into a per-thread int8 scratch, or in registers per output tile when
// the call has only a few tiles.
void TernaryConvAvx512Vnni(const ConvShape& shape, const ConvInput& input,
                           const TernaryConvWeights& weights, const ConvEpilogue& epilogue);

struct TernaryConvKernel {
  const char* name;      // "scalar", "avx2", "avx512vnni"
  CpuFeatures required;  // what its instructions need
  TernaryConvFn conv;

  // True if a CPU with `cpu` can run it.
  bool supported(const CpuFeatures& cpu) const { return HasCpuFeatures(cpu, required); }
  // The same for this CPU (DetectCpuFeatures()).
  bool supported() const { return supported(DetectCpuFeatures()); }
};

// Every variant, the scalar reference first, fastest last.
const TernaryConvKernel* TernaryConvKernels(size_t* count);
// nullptr if there is no variant of that name.
const TernaryConvKernel* FindTernaryConvKernel(const char* name);
// The last entry of the table `cpu` supports (scalar at worst).
const TernaryConvKernel& BestTernaryConvKernel(const CpuFeatures& cpu);
// The same for this CPU (DetectCpuFeatures()).
const TernaryConvKernel& BestTernaryConvKernel();

// A variant chosen by name, for a CPU: what --isa=NAME resolves to.
struct TernaryConvKernelLookup {
  const TernaryConvKernel* kernel = nullptr;  // the variant of that name; null if there is none
  std::string missing;  // the features the CPU lacks for it ("avx512bw avx512vnni"); empty if none
  // Why the name cannot be used, for a status message; empty if ok(). Either
  //   unknown ISA "NAME" (choose one of scalar, avx2, avx512vnni)
  // or
  //   this CPU lacks NAME (it has no avx512bw avx512vnni; it supports: scalar, avx2)
  std::string error;

  bool ok() const { return kernel != nullptr && missing.empty(); }
};
TernaryConvKernelLookup LookUpTernaryConvKernel(const char* name, const CpuFeatures& cpu);

// A fully connected layer (weights.kernel() == 1) as a 1x1 conv over a 1x1 image: `input` is
// [batch][PaddedChannels(in)], the output [batch][PaddedChannels(out)].
inline void TernaryLinear(const TernaryConvKernel& kernel, int batch, const ConvInput& input,
                          const TernaryConvWeights& weights, const ConvEpilogue& epilogue) {
  ConvShape shape;
  shape.batch = batch;
  shape.in_h = 1;
  shape.in_w = 1;
  shape.stride = 1;
  kernel.conv(shape, input, weights, epilogue);
}

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_CONV_KERNELS_H_
