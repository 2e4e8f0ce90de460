// The instruction-set features the kernel table dispatches on, as plain data, so that a caller (or
// a test) can ask what a given CPU would run instead of only what this one runs.
//
// Value type; DetectCpuFeatures() is thread-safe (computed once). libc/libstdc++ only.
#ifndef TERNSERVE_MODELS_KERNELS_CPU_FEATURES_H_
#define TERNSERVE_MODELS_KERNELS_CPU_FEATURES_H_

#include <string>

namespace ternserve::kernels {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
};

// This CPU's features, usable only where the OS also saves the register state (libgcc's CPU model
// checks XCR0 for the ymm / zmm / opmask state). Detected on the first call.
const CpuFeatures& DetectCpuFeatures();

// True if `cpu` has every feature `required` has.
bool HasCpuFeatures(const CpuFeatures& cpu, const CpuFeatures& required);

// The features of `required` that `cpu` lacks, space-separated in declaration order
// ("avx512bw avx512vnni"); empty if none.
std::string MissingCpuFeatures(const CpuFeatures& cpu, const CpuFeatures& required);

}  // namespace ternserve::kernels

#endif  // TERNSERVE_MODELS_KERNELS_CPU_FEATURES_H_
