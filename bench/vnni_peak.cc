#include "bench/vnni_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "models/kernels/cpu_features.h"

namespace ternserve::bench {
namespace {

constexpr int64_t kIterations = 5'000'000;
constexpr int kChains = 20;     // independent accumulators: more than latency x ports
constexpr int kMacsPerOp = 64;  // 16 int32 lanes x 4 u8*s8 products
constexpr int kRepetitions = 5;

// kIterations x kChains vpdpbusd on zmm0-19 (zmm30/31 are the never-written operands).
__attribute__((target("avx512f,avx512vnni"))) void VpdpbusdLoop() {
  for (int64_t i = 0; i < kIterations; ++i) {
#define TERNSERVE_DP(r) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #r "\n\t"
    asm volatile(TERNSERVE_DP(0) TERNSERVE_DP(1) TERNSERVE_DP(2) TERNSERVE_DP(3) TERNSERVE_DP(4)
                     TERNSERVE_DP(5) TERNSERVE_DP(6) TERNSERVE_DP(7) TERNSERVE_DP(8) TERNSERVE_DP(9)
                         TERNSERVE_DP(10) TERNSERVE_DP(11) TERNSERVE_DP(12) TERNSERVE_DP(13)
                             TERNSERVE_DP(14) TERNSERVE_DP(15) TERNSERVE_DP(16) TERNSERVE_DP(17)
                                 TERNSERVE_DP(18) TERNSERVE_DP(19)::
                                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
                                       "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19");
#undef TERNSERVE_DP
  }
}

// One run on `threads` threads released together: their MACs over the wall time until the last
// one is done.
double RunOnceGmacs(int threads) {
  std::atomic<bool> go{false};
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; ++t) {
    workers.emplace_back([&] {
      while (!go.load(std::memory_order_acquire)) {
      }
      VpdpbusdLoop();
    });
  }
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  VpdpbusdLoop();
  for (std::thread& w : workers) w.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(threads) * kIterations * kChains * kMacsPerOp / seconds * 1e-9;
}

double Measure(int threads) {
  if (!kernels::DetectCpuFeatures().avx512vnni || !kernels::DetectCpuFeatures().avx512f) return 0;
  double best = 0;
  for (int rep = 0; rep < kRepetitions; ++rep) best = std::max(best, RunOnceGmacs(threads));
  return best;
}

}  // namespace

double MeasuredVnniPeakGmacs(int threads) {
  static const double one = Measure(1);
  if (threads == 1) return one;
  static const double two = Measure(2);
  return two;
}

}  // namespace ternserve::bench
