// Subprocess: runs a binary as a child process (posix_spawn) for end-to-end tests, optionally
// capturing its stdout, and reports how it exited. Header-only. Thread-compatible: one thread
// drives one Subprocess.
#ifndef TERNSERVE_TESTS_TESTING_SUBPROCESS_H_
#define TERNSERVE_TESTS_TESTING_SUBPROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace ternserve::testing {

class Subprocess {
 public:
  Subprocess() = default;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess() {
    if (running()) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // Starts argv[0] with argv. If `stdout_path` is non-empty the child's stdout goes there, and
  // with `merge_stderr` its stderr too.
  absl::Status Start(const std::vector<std::string>& argv, const std::string& stdout_path = "",
                     bool merge_stderr = false) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!stdout_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, stdout_path.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (merge_stderr) posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    }
    // The child must not inherit a blocked-signal mask from the test runner.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    const int err = posix_spawn(&pid_, args[0], &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (err != 0) {
      pid_ = -1;
      return absl::InternalError(absl::StrCat("posix_spawn ", argv[0], ": ", strerror(err)));
    }
    return absl::OkStatus();
  }

  bool running() const { return pid_ > 0 && !exited_; }
  pid_t pid() const { return pid_; }

  // True if the child has exited (reaps it and records its status).
  bool Poll() {
    if (!running()) return exited_;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) Record(status);
    return exited_;
  }

  void Signal(int signal) {
    if (running()) kill(pid_, signal);
  }

  // Waits up to `timeout` for the child to exit; returns its exit code, or -signal if a signal
  // killed it.
  absl::StatusOr<int> Wait(absl::Duration timeout) {
    const absl::Time give_up = absl::Now() + timeout;
    while (!Poll()) {
      if (absl::Now() > give_up) return absl::DeadlineExceededError("child did not exit in time");
      absl::SleepFor(absl::Milliseconds(10));
    }
    return exit_code_;
  }

 private:
  void Record(int status) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = 0;
};

// The whole of a small file; empty if it cannot be read.
inline std::string ReadSmallFile(const std::string& path) {
  std::string out;
  if (FILE* f = fopen(path.c_str(), "rb")) {
    char buffer[4096];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, f)) > 0) out.append(buffer, n);
    fclose(f);
  }
  return out;
}

// Waits for `server` to write `port_file` (ternserve --port_file writes it once it serves; a file
// is the only signal it gives, so this polls it every 20 ms) and returns its contents.
// FAILED_PRECONDITION if the server exits first, DEADLINE_EXCEEDED after `timeout`.
inline absl::StatusOr<std::string> WaitForPortFile(Subprocess& server, const std::string& port_file,
                                                   absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  for (std::string ports = ReadSmallFile(port_file);; ports = ReadSmallFile(port_file)) {
    if (!ports.empty()) return ports;
    if (server.Poll()) return absl::FailedPreconditionError("the server exited during start-up");
    if (absl::Now() > give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("the server wrote no ", port_file, " in ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
}

// Runs argv to completion, returning (exit code, stdout, and stderr too with `merge_stderr`).
// Times out after `timeout`.
inline absl::StatusOr<std::pair<int, std::string>> RunToCompletion(
    const std::vector<std::string>& argv, const std::string& stdout_path,
    absl::Duration timeout = absl::Seconds(60), bool merge_stderr = false) {
  Subprocess process;
  if (absl::Status started = process.Start(argv, stdout_path, merge_stderr); !started.ok()) {
    return started;
  }
  absl::StatusOr<int> code = process.Wait(timeout);
  if (!code.ok()) return code.status();
  return std::make_pair(*code, ReadSmallFile(stdout_path));
}

}  // namespace ternserve::testing

#endif  // TERNSERVE_TESTS_TESTING_SUBPROCESS_H_
