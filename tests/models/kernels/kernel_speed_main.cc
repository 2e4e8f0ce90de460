// kernel-speed: a standalone timing program (not a test) for the ternary conv variants on the
// SuperNet's layer shapes. For each shape, batch (1, 32) and thread count (1, 2) it runs every
// supported SIMD variant side by side and prints GMAC/s (useful MACs: in-bounds taps are not
// counted separately, the figure is batch * out_h * out_w * out * in * k * k / time).
//
// Threads split the output rows (ConvShape::row_begin/row_end) like the engine does. Each thread
// runs its row range for a whole timed batch of calls without synchronising per call: the machine
// is shared with other jobs, and a per-call barrier would time the OS scheduler, not the kernel.
//
// Usage: kernel-speed [min_seconds_per_point (default 0.3)] [variant ...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
  using Clock = std::chrono::steady_clock;
  auto run = [&](int iters) {
    std::vector<std::thread> workers;
    for (int t = 1; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < iters; ++i) once(t);
      });
    }
    for (int i = 0; i < iters; ++i) once(0);
    for (std::thread& w : workers) w.join();
  };
  // Warm up, then take the best of several timed batches of calls.
  run(3);
  double best = 1e30;
  const auto start = Clock::now();
  int iters = 1;
  while (std::chrono::duration<double>(Clock::now() - start).count() < min_seconds) {
    const auto t0 = Clock::now();
    run(iters);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count() / iters;
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
  for (int a = 2; a < argc; ++a) {
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
  std::printf("%-22s %5s %3s", "shape", "batch", "thr");
  for (const TernaryConvKernel* k : variants) std::printf(" %12s", k->name);
  std::printf("   (GMAC/s)\n");
  std::mt19937 rng(7);
  for (int threads : {1, 2}) {
    for (int batch : {1, 32}) {
      for (const Shape& s : kShapes) {
        const testing::ConvCase c =
            testing::MakeConvCase(&rng, s.kernel, s.stride, s.side, batch, s.in, s.out,
                                  s.zero_point, testing::Residual::kNone, true, true);
        const double macs =
            static_cast<double>(batch) * c.OutH() * c.OutW() * s.in * s.out * s.kernel * s.kernel;
        std::printf("%-22s %5d %3d", s.name, batch, threads);
        for (const TernaryConvKernel* k : variants) {
          if (!k->supported()) {
            std::printf(" %12s", "n/a");
            continue;
          }
          const double t = TimeConv(*k, c, threads, min_seconds);
          std::printf(" %12.1f", macs / t * 1e-9);
        }
        std::printf("\n");
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
