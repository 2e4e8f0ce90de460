// CPU feature detection (cpu_features.h).
#include "models/kernels/cpu_features.h"

namespace ternserve::kernels {
namespace {

struct NamedFeature {
  const char* name;
  bool CpuFeatures::*has;
};

constexpr NamedFeature kFeatures[] = {
    {"avx2", &CpuFeatures::avx2},
    {"avx512f", &CpuFeatures::avx512f},
    {"avx512bw", &CpuFeatures::avx512bw},
    {"avx512vl", &CpuFeatures::avx512vl},
    {"avx512vnni", &CpuFeatures::avx512vnni},
};

CpuFeatures Detect() {
  __builtin_cpu_init();
  CpuFeatures cpu;
  cpu.avx2 = __builtin_cpu_supports("avx2");
  cpu.avx512f = __builtin_cpu_supports("avx512f");
  cpu.avx512bw = __builtin_cpu_supports("avx512bw");
  cpu.avx512vl = __builtin_cpu_supports("avx512vl");
  cpu.avx512vnni = __builtin_cpu_supports("avx512vnni");
  return cpu;
}

}  // namespace

const CpuFeatures& DetectCpuFeatures() {
  static const CpuFeatures cpu = Detect();
  return cpu;
}

bool HasCpuFeatures(const CpuFeatures& cpu, const CpuFeatures& required) {
  return MissingCpuFeatures(cpu, required).empty();
}

std::string MissingCpuFeatures(const CpuFeatures& cpu, const CpuFeatures& required) {
  std::string missing;
  for (const NamedFeature& f : kFeatures) {
    if (required.*f.has && !(cpu.*f.has)) {
      if (!missing.empty()) missing += ' ';
      missing += f.name;
    }
  }
  return missing;
}

}  // namespace ternserve::kernels
