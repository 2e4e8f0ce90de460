// kernel-speed: a standalone timing program (not a test) for the ternary conv variants on the
// SuperNet's layer shapes. For each shape, batch (1, 32) and thread count (1, 2) it runs every
// supported SIMD variant side by side and prints GMAC/s (useful MACs: in-bounds taps are not
// counted separately, the figure is batch * out_h * out_w * out * in * k * k / time).
//
// Timing uses each thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time: the machine is
// shared with other jobs, and CPU time measures the kernel as if the cores were ours. A 2-thread
// point is MACs / the slower thread's CPU time. The program also estimates the core clock from a
// dependent-add chain and prints each point's share of the VNNI peak (128 int8 MACs/cycle/core).
//
// Threads split the output rows (ConvShape::row_begin/row_end) like the engine does. Each thread
// runs its row range for a whole timed batch of calls without synchronising per call: the machine
// is shared with other jobs, and a per-call barrier would time the OS scheduler, not the kernel.
//
// Usage: kernel-speed [min_seconds_per_point (default 0.3)] [--shape=SUBSTRING] [--batch=N]
//        [--threads=N] [--wall] [variant ...]
// --wall times wall-clock seconds instead (as python's time.perf_counter in the anchor benches).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "models/kernels/conv_kernels.h"
#include "tests/models/kernels/conv_test_cases.h"

namespace ternserve::kernels {
namespace {

struct Shape {
  const char* name;
  int kernel, stride, side, in, out;
  int32_t zero_point;
};

const Shape kShapes[] = {
    {"stem 1->32 28x28", 3, 1, 28, 1, 32, 128},   {"32->32 28x28", 3, 1, 28, 32, 32, 0},
    {"64->64 14x14", 3, 1, 14, 64, 64, 0},        {"128->128 7x7", 3, 1, 7, 128, 128, 0},
    {"32->64 s2 28x28", 3, 2, 28, 32, 64, 0},     {"64->128 s2 14x14", 3, 2, 14, 64, 128, 0},
    {"1x1 32->64 s2 28x28", 1, 2, 28, 32, 64, 0}, {"1x1 64->128 s2 14x14", 1, 2, 14, 64, 128, 0},
};

bool g_wall = false;  // --wall

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Core clock estimate (GHz): a chain of dependent imuls runs at one per 3 cycles (adds are not
// used: recent cores fold immediate-add chains).
double EstimateGhz() {
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    uint64_t x = 0;
    const int64_t n = 200'000'000;
    const double t0 = ThreadCpuSeconds();
    for (int64_t i = 0; i < n; i += 8) {
      asm volatile(
          "imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0\n\t"
          "imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0"
          : "+r"(x));
    }
    best = std::max(best, 3.0 * static_cast<double>(n) / (ThreadCpuSeconds() - t0) * 1e-9);
  }
  return best;
}

// Measured vpdpbusd zmm throughput of one core in GMAC/s (20 independent accumulators, no loads),
// or 0 if the CPU lacks AVX-512 VNNI: the ceiling the kernels can reach here.
__attribute__((target("avx512f,avx512vnni"))) double MeasureVnniPeakImpl() {
  double best = 0.0;
  for (int rep = 0; rep < 3; ++rep) {
    const int64_t n = 20'000'000;
    const double t0 = ThreadCpuSeconds();
    for (int64_t i = 0; i < n; ++i) {
#define TERNSERVE_DP(r) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #r "\n\t"
      asm volatile(TERNSERVE_DP(0) TERNSERVE_DP(1) TERNSERVE_DP(2) TERNSERVE_DP(3) TERNSERVE_DP(4)
                       TERNSERVE_DP(5) TERNSERVE_DP(6) TERNSERVE_DP(7) TERNSERVE_DP(8)
                           TERNSERVE_DP(9) TERNSERVE_DP(10) TERNSERVE_DP(11) TERNSERVE_DP(12)
                               TERNSERVE_DP(13) TERNSERVE_DP(14) TERNSERVE_DP(15) TERNSERVE_DP(16)
                                   TERNSERVE_DP(17) TERNSERVE_DP(18) TERNSERVE_DP(19)::
                                       : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                                         "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",
                                         "xmm14", "xmm15");
#undef TERNSERVE_DP
    }
    best = std::max(best, 20.0 * 64 * static_cast<double>(n) / (ThreadCpuSeconds() - t0) * 1e-9);
  }
  return best;
}

double MeasureVnniPeak() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512vnni")) return 0.0;
  return MeasureVnniPeakImpl();
}

double TimeConv(const TernaryConvKernel& k, const testing::ConvCase& c, int threads,
                double min_seconds) {
  std::vector<uint8_t> out_u8;
  std::vector<float> out_f32;
  const ConvEpilogue e = testing::EpilogueOf(c, &out_u8, &out_f32);
  const ConvInput input = testing::InputOf(c);
  const int64_t rows = c.shape.Rows(c.kernel);
  auto once = [&](int t) {
    ConvShape s = c.shape;
    s.row_begin = rows * t / threads;
    s.row_end = rows * (t + 1) / threads;
    k.conv(s, input, c.weights, e);
  };

  // Returns the slowest thread's CPU seconds for `iters` calls.
  auto run = [&](int iters) {
    std::vector<double> cpu(threads, 0.0);
    auto loop = [&](int t) {
      const double c0 = ThreadCpuSeconds();
      for (int i = 0; i < iters; ++i) once(t);
      cpu[t] = ThreadCpuSeconds() - c0;
    };
    const auto w0 = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 1; t < threads; ++t) workers.emplace_back(loop, t);
    loop(0);
    for (std::thread& w : workers) w.join();
    if (g_wall) return std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
    return *std::max_element(cpu.begin(), cpu.end());
  };
  // Warm up, then take the best of several timed batches of calls.
  run(3);
  double best = 1e30;
  double spent = 0.0;
  int iters = 1;
  while (spent < min_seconds) {
    const double batch_seconds = run(iters);
    spent += batch_seconds;
    const double dt = batch_seconds / iters;
    best = std::min(best, dt);
    if (dt * iters < 20e-3) iters *= 2;
  }
  return best;
}

}  // namespace
}  // namespace ternserve::kernels

int main(int argc, char** argv) {
  using namespace ternserve::kernels;
  const double min_seconds = argc > 1 ? std::atof(argv[1]) : 0.3;
  std::vector<const TernaryConvKernel*> variants;
  size_t count = 0;
  const TernaryConvKernel* table = TernaryConvKernels(&count);
  std::string shape_filter;
  int only_batch = 0, only_threads = 0;
  for (int a = 2; a < argc; ++a) {
    if (std::strncmp(argv[a], "--shape=", 8) == 0) {
      shape_filter = argv[a] + 8;
      continue;
    }
    if (std::strcmp(argv[a], "--wall") == 0) {
      g_wall = true;
      continue;
    }
    if (std::strncmp(argv[a], "--batch=", 8) == 0) {
      only_batch = std::atoi(argv[a] + 8);
      continue;
    }
    if (std::strncmp(argv[a], "--threads=", 10) == 0) {
      only_threads = std::atoi(argv[a] + 10);
      continue;
    }
    const TernaryConvKernel* k = FindTernaryConvKernel(argv[a]);
    if (k == nullptr) {
      std::fprintf(stderr, "no variant %s\n", argv[a]);
      return 1;
    }
    variants.push_back(k);
  }
  if (variants.empty()) {
    for (size_t i = 1; i < count; ++i) variants.push_back(&table[i]);  // skip the scalar reference
  }
  const double ghz = EstimateGhz();
  const double measured_peak = MeasureVnniPeak();
  // Percentages are of the measured vpdpbusd throughput (this run's real ceiling on a shared
  // machine) when there is one, else of the nominal peak.
  const double peak = measured_peak > 0 ? measured_peak : 128 * ghz;
  std::printf(
      "clock ~%.2f GHz; nominal VNNI peak %.0f GMAC/s per core (128 MACs/cycle); measured vpdpbusd "
      "throughput %.0f GMAC/s per core.\nCells: GMAC/s (%% of the %s peak x threads)\n",
      ghz, 128 * ghz, measured_peak, measured_peak > 0 ? "measured" : "nominal");
  std::printf("%-22s %5s %3s", "shape", "batch", "thr");
  for (const TernaryConvKernel* k : variants) std::printf(" %16s", k->name);
  std::printf("\n");
  std::mt19937 rng(7);
  for (int threads : {1, 2}) {
    if (only_threads != 0 && threads != only_threads) continue;
    for (int batch : {1, 32}) {
      if (only_batch != 0 && batch != only_batch) continue;
      for (const Shape& s : kShapes) {
        if (std::string(s.name).find(shape_filter) == std::string::npos) continue;
        const testing::ConvCase c =
            testing::MakeConvCase(&rng, s.kernel, s.stride, s.side, batch, s.in, s.out,
                                  s.zero_point, testing::Residual::kNone, true, true);
        const double macs =
            static_cast<double>(batch) * c.OutH() * c.OutW() * s.in * s.out * s.kernel * s.kernel;
        std::printf("%-22s %5d %3d", s.name, batch, threads);
        for (const TernaryConvKernel* k : variants) {
          if (!k->supported()) {
            std::printf(" %16s", "n/a");
            continue;
          }
          const double t = TimeConv(*k, c, threads, min_seconds);
          const double gmacs = macs / t * 1e-9;
          std::printf(" %9.1f (%3.0f%%)", gmacs, 100.0 * gmacs / (peak * threads));
        }
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
