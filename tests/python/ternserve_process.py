"""The real ternserve binary as a subprocess of a Python test, and the tests' common flags.

TernserveProcess starts the server on free ports (--port=0 --metrics_port=0), learns them from
--port_file, captures its output (stdout and stderr, together) in a file the test can search, and
stops it with SIGTERM. Waits poll files with a deadline; nothing sleeps to synchronise.
Not thread-safe: one test thread drives one process.
"""

import argparse
import pathlib
import re
import signal
import subprocess
import sys
import time

POLL_S = 0.02


def parse_test_args():
    """The flags tests/python/CMakeLists.txt passes; the rest of argv is left to unittest."""
    parser = argparse.ArgumentParser(add_help=False)
    for flag in ("--ternserve", "--cli", "--bundle", "--profile", "--source", "--work"):
        parser.add_argument(flag, required=True)
    args, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    return args


def wait_until(predicate, deadline_s, what):
    """predicate()'s first truthy value, polled until deadline_s; AssertionError naming `what`."""
    deadline = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")
        time.sleep(POLL_S)


class TernserveProcess:
    """One ternserve subprocess on free ports. Owns the process: kill() in a finally or cleanup
    makes sure it never outlives the test."""

    def __init__(self, args, work_dir, name, flags=()):
        """args: parse_test_args(). work_dir: where the port file and the log go, as name.*."""
        self._work_dir = pathlib.Path(work_dir)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        self.port_file = self._work_dir / f"{name}.port"
        self.log_path = self._work_dir / f"{name}.log"
        self.command = [args.ternserve, f"--bundle={args.bundle}", f"--profile={args.profile}",
                        "--port=0", f"--port_file={self.port_file}", "--metrics_port=0",
                        *flags]
        self._process = None
        self.grpc_port = None
        self.metrics_port = None

    @property
    def address(self):
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self):
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def log(self):
        """Everything the server wrote so far, stdout and stderr interleaved."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _exited_error(self, what):
        return AssertionError(f"ternserve exited with {self._process.returncode} {what}\n"
                              f"command: {' '.join(self.command)}\noutput:\n{self.log()}")

    def start(self, deadline_s=60):
        """Starts the server and returns once its port file names both ports."""
        if self.port_file.exists():
            self.port_file.unlink()
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)

        def ports():
            if self._process.poll() is not None:
                raise self._exited_error("before it wrote its port file")
            if not self.port_file.exists():
                return None
            lines = self.port_file.read_text().split()
            return lines if len(lines) == 2 else None

        grpc_port, metrics_port = wait_until(ports, deadline_s, f"{self.port_file} (2 lines)")
        self.grpc_port, self.metrics_port = int(grpc_port), int(metrics_port)
        return self

    def send_signal(self, signum):
        self._process.send_signal(signum)

    def wait_for_log(self, pattern, after, deadline_s=30):
        """The first match of regex `pattern` in the log after offset `after` (a len(log())).

        Raises AssertionError with the log when it does not come in time or the server exits.
        """
        regex = re.compile(pattern)

        def match():
            found = regex.search(self.log(), after)
            if found is None and self._process.poll() is not None:
                raise self._exited_error(f"while we waited for /{pattern}/")
            return found

        try:
            return wait_until(match, deadline_s, f"/{pattern}/ in the server's output")
        except AssertionError as e:
            raise AssertionError(
                f"{e}; output after offset {after}:\n{self.log()[after:]}") from None

    def stop(self, deadline_s=30):
        """SIGTERM, then the exit status (the process is killed if it outlives deadline_s).
        AssertionError if it is not running: it died before it was told to stop."""
        if self._process is None:
            raise AssertionError("ternserve was never started")
        if self._process.poll() is not None:
            raise self._exited_error("before SIGTERM")
        self._process.send_signal(signal.SIGTERM)
        try:
            return self._process.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"ternserve ignored SIGTERM for {deadline_s} s; killed. "
                                 f"Output:\n{self.log()}") from None

    def kill(self):
        """SIGKILL if still running; for finally blocks and cleanups."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def assert_stops_cleanly(self):
        rc = self.stop()
        if rc != 0:
            raise AssertionError(f"ternserve exited with {rc} on SIGTERM, want 0. "
                                 f"Output:\n{self.log()}")
