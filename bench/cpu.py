"""CPU time of process trees from /proc, to tell which process a round saturates."""

from __future__ import annotations

import os
import time
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
