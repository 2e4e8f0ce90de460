// CPU pinning of the dispatcher's workers. See cpu_affinity.h.
#include "util/cpu_affinity.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ternserve {

std::vector<int> OnlineCpus() {
  std::vector<int> cpus;
#ifdef __linux__
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  for (int cpu = 0; cpu < online && cpu < CPU_SETSIZE; ++cpu) cpus.push_back(cpu);
#endif
  return cpus;
}

std::vector<int> AllowedCpus() {
  std::vector<int> cpus;
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
#endif
  return cpus;
}

absl::StatusOr<std::vector<int>> ParseCpuList(absl::string_view text,
                                              const std::vector<int>& allowed) {
  std::vector<int> cpus;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int cpu = -1;
    if (!absl::SimpleAtoi(item, &cpu) || cpu < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", item, "' is not a CPU number (want e.g. 1 or 1,3)"));
    }
    if (std::find(allowed.begin(), allowed.end(), cpu) == allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat("CPU ", cpu,
                                                     " is not online "
                                                     "(online: ",
                                                     absl::StrJoin(allowed, ","), ")"));
    }
    if (std::find(cpus.begin(), cpus.end(), cpu) != cpus.end()) {
      return absl::InvalidArgumentError(absl::StrCat("CPU ", cpu, " is given twice"));
    }
    cpus.push_back(cpu);
  }
  return cpus;
}

absl::Status PinThread(std::thread& thread, int cpu) {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  const int error = pthread_setaffinity_np(thread.native_handle(), sizeof set, &set);
  if (error == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("pinning a thread to CPU ", cpu, ": ", strerror(error)));
#else
  (void)thread;
  return absl::UnimplementedError(absl::StrCat("cannot pin threads to CPU ", cpu, " here"));
#endif
}

}  // namespace ternserve
