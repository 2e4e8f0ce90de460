// CPU pinning of the dispatcher's workers (ternserve --worker_cpus). Linux only: elsewhere no CPU
// is reported available, so every pinning request is refused with a clear error.
//
// Why: on a small machine the gRPC threads (and, in a benchmark, the load generator) share the
// cores with the engines. A worker pinned to a core of its own, with everything else kept off it
// (e.g. `taskset -c 0 ternserve --worker_cpus=1`), computes as fast as the latency profile
// measured, which is what the scheduler plans with.
#ifndef TERNSERVE_UTIL_CPU_AFFINITY_H_
#define TERNSERVE_UTIL_CPU_AFFINITY_H_

#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ternserve {

// The CPUs online on this machine, ascending (0 .. n-1). Not the process's affinity mask: a process
// started on a subset of the CPUs (taskset -c 0) may still pin a worker to another one. A CPU the
// process's cgroup forbids makes PinThread fail.
std::vector<int> OnlineCpus();

// The CPUs the calling thread may run on now (its affinity mask), ascending; empty if unknown.
std::vector<int> AllowedCpus();

// "1" or "1,3": one CPU number per worker. INVALID_ARGUMENT naming the bad entry, or a CPU that
// is not in `allowed` (listing them), or a CPU given twice.
absl::StatusOr<std::vector<int>> ParseCpuList(absl::string_view text,
                                              const std::vector<int>& allowed);

// Restricts `thread` to `cpu`. INTERNAL with the errno text if the kernel refuses.
absl::Status PinThread(std::thread& thread, int cpu);

// One iteration of a spin-wait loop: tells the CPU (x86 `pause`) that this is a busy wait.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace ternserve

#endif  // TERNSERVE_UTIL_CPU_AFFINITY_H_
