"""CPU time of process trees from /proc, to tell which process a round saturates, and `Window`, which
takes it over a round's measured window."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
Snapshot = tuple[float, dict[str, float]]


def _cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds of each root and its live descendants (postgres forks a backend per
    connection), from one pass over /proc; plus "<role>/main", the root's main thread alone, which
    runs a Python server's event loop and so caps its throughput at one core."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        times[pid] = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    totals = {}
    for role, root in roots.items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            total += times.get(pid, 0.0)
            todo += children.get(pid, [])
        totals[role] = total
        try:
            totals[f"{role}/main"] = _cpu(Path(f"/proc/{root}/task/{root}/stat"))
        except (OSError, IndexError):
            pass
    return totals


def snapshot(roots: dict[str, int]) -> Snapshot:
    return time.monotonic(), cpu_seconds(roots)


def cores_between(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """Average cores each role kept busy between two snapshots."""
    wall = max(after[0] - before[0], 1e-9)
    return {role: (after[1][role] - cpu) / wall for role, cpu in before[1].items() if role in after[1]}


class Window:
    """CPU per process, and optionally the rate of a counter (e.g. OpenBao's transit requests), over a
    round's measured window: from the end of the warm-up to the window's end, or to the end of the
    `with` block if that comes first (a count-bounded round ends with its last call). A thread, so that
    it serves asyncio rounds and threaded ones alike; the window edges follow the generator's clock.

    Both figures are rates over the interval between two samples, each timed where it was taken: a
    sample that comes late (the generator is busy) shortens the interval, it does not bias the rate."""

    def __init__(self, roots: dict[str, int], warmup_s: float, duration_s: float,
                 counter: Callable[[], float | None] | None = None) -> None:
        self._roots, self._warmup_s, self._duration_s, self._counter = roots, warmup_s, duration_s, counter
        self._closed = threading.Event()
        self._samples: list[tuple[Snapshot, tuple[float, float] | None]] = []
        self._thread = threading.Thread(target=self._run, name="window", daemon=True)

    def _take(self) -> None:
        cpu = snapshot(self._roots)
        sent = time.monotonic()
        count = self._counter() if self._counter else None
        # The counter is read somewhere between sending and receiving: take the midpoint.
        self._samples.append((cpu, None if count is None else ((sent + time.monotonic()) / 2, count)))

    def _run(self) -> None:
        began = time.monotonic()
        if self._closed.wait(self._warmup_s):
            return
        self._take()
        self._closed.wait(max(0.0, began + self._warmup_s + self._duration_s - time.monotonic()))
        self._take()

    def __enter__(self) -> Window:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closed.set()
        self._thread.join()

    def cores(self) -> dict[str, float]:
        """Average cores each process kept busy over the window ({} if the round ended in its warm-up)."""
        return cores_between(self._samples[0][0], self._samples[1][0]) if len(self._samples) == 2 else {}

    def counter_rate(self) -> float | None:
        """The counter's increase per second over the window, or None if it could not be read."""
        if len(self._samples) != 2 or None in (self._samples[0][1], self._samples[1][1]):
            return None
        (t0, n0), (t1, n1) = self._samples[0][1], self._samples[1][1]
        return (n1 - n0) / max(t1 - t0, 1e-9)
