// The ternary conv kernel table and CPU dispatch (conv_kernels.h).
#include <cstring>
#include <string>

#include "models/kernels/conv_kernels.h"

namespace ternserve::kernels {
namespace {

constexpr CpuFeatures kNothing{};
constexpr CpuFeatures kAvx2{/*avx2=*/true};
// vpdpbusd on zmm (F, VNNI), byte masks (BW), and the 128/256-bit forms of the epilogue (VL).
constexpr CpuFeatures kAvx512Vnni{/*avx2=*/false, /*avx512f=*/true, /*avx512bw=*/true,
                                  /*avx512vl=*/true, /*avx512vnni=*/true};

const TernaryConvKernel kKernels[] = {
    {"scalar", kNothing, &TernaryConvScalar},
    {"avx2", kAvx2, &TernaryConvAvx2},
    {"avx512vnni", kAvx512Vnni, &TernaryConvAvx512Vnni},
};

// "scalar, avx2, ..." over the entries `cpu` supports (every entry if `cpu` is null).
std::string Names(const CpuFeatures* cpu) {
  std::string names;
  for (const TernaryConvKernel& k : kKernels) {
    if (cpu != nullptr && !k.supported(*cpu)) continue;
    if (!names.empty()) names += ", ";
    names += k.name;
  }
  return names;
}

}  // namespace

const TernaryConvKernel* TernaryConvKernels(size_t* count) {
  *count = sizeof(kKernels) / sizeof(kKernels[0]);
  return kKernels;
}

const TernaryConvKernel* FindTernaryConvKernel(const char* name) {
  for (const TernaryConvKernel& k : kKernels) {
    if (std::strcmp(k.name, name) == 0) return &k;
  }
  return nullptr;
}

const TernaryConvKernel& BestTernaryConvKernel(const CpuFeatures& cpu) {
  const size_t count = sizeof(kKernels) / sizeof(kKernels[0]);
  for (size_t i = count; i-- > 0;) {
    if (kKernels[i].supported(cpu)) return kKernels[i];
  }
  return kKernels[0];
}

const TernaryConvKernel& BestTernaryConvKernel() {
  return BestTernaryConvKernel(DetectCpuFeatures());
}

TernaryConvKernelLookup LookUpTernaryConvKernel(const char* name, const CpuFeatures& cpu) {
  TernaryConvKernelLookup lookup;
  lookup.kernel = FindTernaryConvKernel(name);
  if (lookup.kernel == nullptr) {
    lookup.error =
        std::string("unknown ISA \"") + name + "\" (choose one of " + Names(nullptr) + ")";
    return lookup;
  }
  lookup.missing = MissingCpuFeatures(cpu, lookup.kernel->required);
  if (!lookup.missing.empty()) {
    lookup.error = std::string("this CPU lacks ") + name + " (it has no " + lookup.missing +
                   "; it supports: " + Names(&cpu) + ")";
  }
  return lookup;
}

}  // namespace ternserve::kernels
