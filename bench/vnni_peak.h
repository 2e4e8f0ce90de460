// The vpdpbusd ceiling of this CPU, measured in the same process as the kernels it rates: the
// denominator of the layer rows' "% of peak" (a constant would describe some other machine, or
// this one on a better day).
//
// Thread-safe: each figure is measured once, on its first call (~0.1 s), and then reused.
#ifndef TERNSERVE_BENCH_VNNI_PEAK_H_
#define TERNSERVE_BENCH_VNNI_PEAK_H_

namespace ternserve::bench {

// Int8 multiply-accumulates per second (in GMAC/s) that `threads` threads (1 or 2) reach together
// with nothing but independent zmm vpdpbusd instructions (20 accumulators per thread, no loads;
// 64 MACs each), the best of 5 wall-clock runs of ~100 M instructions per thread. 0 if this CPU
// lacks AVX-512 VNNI.
double MeasuredVnniPeakGmacs(int threads);

}  // namespace ternserve::bench

#endif  // TERNSERVE_BENCH_VNNI_PEAK_H_
