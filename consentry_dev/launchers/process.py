"""Shared plumbing for running infrastructure binaries on loopback ports.

Each child leads its own process group, so `kill()` also takes down what it
forked (postgres backends) and a terminal Ctrl-C does not race our shutdown.
Started instances are stopped at interpreter exit; a pid file lets the next run
reap a group orphaned by a hard-killed parent.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

from .procfs import POLL_INTERVAL, kill_tree, listens_on, wait_gone

T = TypeVar("T")


def private_file(path: Path, text: str) -> Path:
    """Writes a secret where only the owner can read it (mode 0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    return path


def open_log(path: Path):
    """A log only its owner can read: a server may print a secret (OpenBao's dev banner does)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return open(fd, "ab")


_LOWEST_PORT = 10000
_given_ports: set[int] = set()
_slice = (0, 1)  # this process's share of the range: (index, of how many)


def use_port_slice(index: int, count: int) -> None:
    """Processes that start servers side by side (test workers) each take ports from their own part
    of the range, so one never picks a port another has picked but not bound yet."""
    global _slice
    _slice = (index, count)


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port() -> int:
    """An unused loopback TCP port, never the same twice in a process. It lies below the kernel's
    ephemeral range: a port from that range (what binding port 0 gives) can be taken as the local end
    of any outgoing connection before the server meant for it binds, and its start then fails."""
    below = _ephemeral_ports_start()
    if below - _LOWEST_PORT < 1000:  # hardly any room below the range: the kernel's choice then
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    index, count = _slice
    width = (below - _LOWEST_PORT) // count
    while True:
        port = random.randrange(_LOWEST_PORT + index * width, _LOWEST_PORT + (index + 1) * width)
        if port in _given_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given_ports.add(port)
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def run_async(coro_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine in a private loop on a helper thread, so that sync helpers
    also work inside a running event loop (async fixtures), where asyncio.run refuses."""
    with ThreadPoolExecutor(1, thread_name_prefix="launcher") as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


class ManagedProcess:
    """One long-running child process whose output goes to `<run_dir>/<name>.log`."""

    name = "process"
    stop_signal = signal.SIGTERM
    # A worker without a listening socket (e.g. a Kafka consumer) is ready by its own signal only.
    serves_port = True

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.log_path = self.run_dir / f"{self.name}.log"
        self.startup_seconds: float | None = None
        self._pid_file = self.run_dir / f"{self.name}.pid"
        self._proc: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    def command(self) -> list[str]:
        raise NotImplementedError

    def wait_ready(self, timeout: float) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Hook: create files the process needs before it is spawned."""

    def popen_kwargs(self) -> dict[str, Any]:
        """Hook: extra `subprocess.Popen` arguments (env, user, ...)."""
        return {}

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} port={self.port} pid={self.pid} running={self.is_running}>"

    def start(self, timeout: float = 60.0) -> Self:
        """Spawn the process and block until it serves requests."""
        if self.is_running:
            return self
        began = time.monotonic()
        self._reap_orphan()
        self.prepare()
        with open_log(self.log_path) as log:
            io = {"stdin": subprocess.DEVNULL, "stdout": log, "stderr": subprocess.STDOUT}
            self._proc = subprocess.Popen(
                self.command(), start_new_session=True, cwd=self.run_dir, **io, **self.popen_kwargs()
            )
        self._pid_file.write_text(str(self._proc.pid))
        pid = self._proc.pid
        try:
            if self.serves_port:
                self.wait_until(lambda: listens_on(pid, self.port), timeout, "listening")
            self.wait_ready(max(1.0, timeout - (time.monotonic() - began)))
        except BaseException:
            self.kill()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Ask for an orderly shutdown; escalate to SIGKILL after `timeout`."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL the process with everything it spawned, like a crash, and wait for them."""
        if self._proc is None:
            return
        # Only an unreaped leader's pid is guaranteed not to have been reused.
        tree = kill_tree(self._proc.pid) if self._proc.poll() is None else []
        self._proc.wait()
        self._proc = None  # forget the pid so a second kill() cannot hit a reused one
        self._pid_file.unlink(missing_ok=True)
        wait_gone(tree)

    def restart(self, timeout: float = 60.0) -> Self:
        """Stop (if running) and start again on the same port and run dir."""
        self.stop()
        return self.start(timeout)

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `predicate`; fail fast if the process exits, with the log tail."""
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.poll() is not None:
                self._fail(f"exited with code {self._proc.returncode} before {what}")
            if predicate():
                return
            if time.monotonic() > deadline:
                self._fail(f"not {what} after {timeout:.0f}s")
            time.sleep(POLL_INTERVAL)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else "<no log>"
        return "\n".join(text.splitlines()[-lines:])

    def _fail(self, problem: str) -> None:
        raise RuntimeError(
            f"{self.name} (port {self.port}) {problem}; log {self.log_path}:\n{self.log_tail()}"
        )

    def _reap_orphan(self) -> None:
        """Kill a group left by a previous, hard-killed parent using the same run dir."""
        try:
            pid = int(self._pid_file.read_text())
            exe = Path(f"/proc/{pid}/exe").resolve().name
        except (OSError, ValueError):
            exe = None
        self._pid_file.unlink(missing_ok=True)
        if exe == Path(self.command()[0]).name:
            wait_gone(kill_tree(pid))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
