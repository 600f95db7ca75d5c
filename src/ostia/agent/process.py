"""Child processes the agent keeps running (HAProxy's master, keepalived).

A child is a direct child of the agent (no daemonizing), so the agent sees its exit at once: a
thread waits on it. When it exits without being asked, ``on_crash`` runs and the child is started
again after a delay that doubles up to a bound; ``on_restart_failed`` and ``on_restarted`` tell
the owner how each attempt went. Every state change happens under the agent's lock.
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

OUTPUT_LINES = 200


def _nothing() -> None:
    return None


class StartError(Exception):
    """The child did not start; the message holds its output."""


class InvalidConfig(Exception):
    """A program refused a configuration; the message is its output."""


class Child:
    def __init__(
        self,
        name: str,
        lock: threading.RLock,
        *,
        cwd: Path,
        delay_min: float,
        delay_max: float,
        ready_timeout: float,
    ) -> None:
        self.name = name
        self._lock = lock
        self._cwd = cwd
        self._delay_min = delay_min
        self._delay_max = delay_max
        self._ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._wanted = False
        self._output: collections.deque[str] = collections.deque(maxlen=OUTPUT_LINES)
        self._count = 0  # lines ever read, for output_since()
        self._output_lock = threading.Lock()
        self._stopping = threading.Event()
        self.on_crash: Callable[[], None] = _nothing
        self.on_restart_failed: Callable[[], None] = _nothing
        self.on_restarted: Callable[[], None] = _nothing

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self, argv: Sequence[str], ready: Callable[[], bool]) -> None:
        """Start the child and wait until ``ready()``; raises StartError with its output."""
        with self._lock:
            if self.running:
                return
            self._wanted = True
            self._stopping.clear()
            try:
                self._spawn(argv, ready)
            except StartError:
                self._wanted = False
                raise

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stop the child (``sig``, then SIGKILL after ``timeout``) and keep it stopped."""
        with self._lock:
            self._wanted = False
            self._stopping.set()
            proc = self._proc
            if proc is None or proc.poll() is not None:
                return
            log.info("%s: stopping pid %d", self.name, proc.pid)
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s: pid %d ignored signal %d, killing it", self.name, proc.pid, sig)
                proc.kill()
                proc.wait(timeout)

    def signal(self, sig: int) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)

    def output_since(self, mark: int) -> str:
        """The child's output lines after ``mark`` (from ``output_mark()``)."""
        with self._output_lock:
            lines = list(self._output)
            count = self._count
        return "".join(lines[max(0, len(lines) - (count - mark)) :])

    def output_mark(self) -> int:
        with self._output_lock:
            return self._count

    def _spawn(self, argv: Sequence[str], ready: Callable[[], bool]) -> None:
        mark = self.output_mark()
        log.info("%s: starting %s", self.name, " ".join(argv))
        try:
            proc = subprocess.Popen(
                list(argv),
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise StartError(f"{argv[0]}: {exc.strerror}") from exc
        self._proc = proc
        reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        reader.start()
        deadline = time.monotonic() + self._ready_timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                threading.Thread(target=self._watch, args=(proc, argv, ready), daemon=True).start()
                log.info("%s: running, pid %d", self.name, proc.pid)
                return
            time.sleep(0.02)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            reason = f"not ready after {self._ready_timeout:g} s"
        else:
            reason = f"exited with status {proc.returncode}"
        reader.join(1.0)  # its last lines
        output = self.output_since(mark)
        log.error("%s: %s", self.name, reason)
        raise StartError(output or f"{self.name} {reason}")

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        child_log = logging.getLogger(f"{__name__}.{self.name}")
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            with self._output_lock:
                self._output.append(line)
                self._count += 1
            child_log.info("%s", line.rstrip())
        proc.stdout.close()

    def _watch(
        self, proc: subprocess.Popen[bytes], argv: Sequence[str], ready: Callable[[], bool]
    ) -> None:
        status = proc.wait()
        with self._lock:
            if self._proc is not proc or not self._wanted:
                return
            log.error("%s: pid %d exited unasked with status %d", self.name, proc.pid, status)
            self.on_crash()
        delay = self._delay_min
        while not self._stopping.wait(delay):
            with self._lock:
                if not self._wanted or self.running:
                    return
                try:
                    self._spawn(argv, ready)
                except StartError:
                    self.on_restart_failed()
                else:
                    self.on_restarted()
                    return
            delay = min(delay * 2, self._delay_max)


def pid_from_file(path: Path) -> int | None:
    """The pid in a pid file, when that process is alive."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def kill_leftover(pid_file: Path, marker: str, timeout: float = 5.0) -> None:
    """Stop a process left by an earlier agent, if the pid file names one whose command line
    mentions ``marker`` (so a recycled pid is never hit), then remove the pid file."""
    pid = pid_from_file(pid_file)
    if pid is not None and any(marker in part for part in command_line(pid)):
        log.warning("stopping leftover pid %d from %s", pid, pid_file.name)
        try:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pid_file.unlink(missing_ok=True)
