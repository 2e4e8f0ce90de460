// The ternary conv kernel table and CPU dispatch (conv_kernels.h).
#include <cstring>

#include "models/kernels/conv_kernels.h"

namespace ternserve::kernels {
namespace {

bool AlwaysSupported() { return true; }

bool Avx2Supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2");
}

bool Avx512VnniSupported() {
  // libgcc's cpu model also checks that the OS saves the zmm/opmask state (XCR0).
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
}

const TernaryConvKernel kKernels[] = {
    {"scalar", &AlwaysSupported, &TernaryConvScalar},
    {"avx2", &Avx2Supported, &TernaryConvAvx2},
    {"avx512vnni_regs", &Avx512VnniSupported, &TernaryConvAvx512VnniRegisterExpand},
    {"avx512vnni", &Avx512VnniSupported, &TernaryConvAvx512Vnni},
};

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

const TernaryConvKernel& BestTernaryConvKernel() {
  const size_t count = sizeof(kKernels) / sizeof(kKernels[0]);
  for (size_t i = count; i-- > 0;) {
    if (kKernels[i].supported()) return kKernels[i];
  }
  return kKernels[0];
}

}  // namespace ternserve::kernels
