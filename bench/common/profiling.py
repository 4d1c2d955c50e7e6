"""`--profile`: sample the servers with py-spy during an extra round of each scenario.

py-spy is optional (`pip install py-spy`); it runs non-blocking, so the server is not paused while
sampled, but the sampler still takes CPU on a small machine: rounds run under it are reported
apart and never enter the medians. Output: raw collapsed stacks plus a summary of where the
samples fall (own time per function, and time per function including callees).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

RATE = 250  # samples per second
_LOOP = ("BaseEventLoop.run_forever", "BaseEventLoop._run_once", "Handle._run", "Thread.run")
_NO_PYTHON_FRAMES = {  # samples that end in one of these ran native code that py-spy cannot name
    "Thread.run": "other thread, no Python frames (grpc poller: C-core, TLS)",
    "Handle._run": "callbacks without Python frames (grpc aio Cython, asyncio C tasks)",
}
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")  # "func (file:line)"


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _short(frame: tuple[str, str]) -> str:
    """(func, path/to/pkg/mod.py) -> `func (pkg/mod.py)`: per function, not per line."""
    func, path = frame
    return f"{func} ({'/'.join(Path(path).parts[-2:])})" if path else func


def component(path: str) -> str | None:
    """Which code a frame belongs to: a third-party package, a part of this repository, or None for
    the standard library (whose time is charged to the nearest caller that has a component)."""
    parts = Path(path).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    if "services" in parts:
        i = parts.index("services")
        return ".".join(parts[i:i + 3]).removesuffix(".py")  # e.g. services.consent.api
    return None


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for frame in stack.split(";"):
        m = _FRAME.match(frame)
        out.append((m["func"], m["file"]) if m else (frame, ""))
    return out


def summarize(collapsed: Path, seconds: float, rate: int, top: int = 25) -> str:
    """Own time per component and per function, and time per function including callees."""
    by_component: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n, frames = int(count), _frames(stack)
        total += n
        own[_short(frames[-1])] += n
        # The event loop's own frames (runpy, main, run_forever, ...) say nothing about where time goes;
        # coroutines resumed from C (grpc's Cython, the C task step) show up without them anyway.
        cut = max((i for i, (func, _) in enumerate(frames) if func in _LOOP), default=-1)
        below = frames[cut + 1:]
        owner = next((c for c in (component(f) for _, f in reversed(below)) if c), None)
        if owner is None:
            loop_frame = frames[cut][0] if cut >= 0 and not below else ""
            owner = _NO_PYTHON_FRAMES.get(loop_frame, "event loop and asyncio (stdlib)")
        by_component[owner] += n
        for name in {_short(f) for f in below}:
            inclusive[name] += n
    if not total:
        return "no samples\n"

    def block(title: str, counts: Counter[str]) -> list[str]:
        return [title] + [f"  {100 * c / total:5.1f}%  {name}" for name, c in counts.most_common(top)]

    busy = total / (seconds * rate)
    lines = [f"{total} samples of non-idle threads in {seconds:.0f}s at {rate} Hz: {busy:.2f} threads busy on average;",
             "percentages are of those samples"]
    lines += block("own time by component (stdlib charged to its caller):", by_component)
    lines += block("own time by function:", own) + block("including callees:", inclusive)
    return "\n".join(lines) + "\n"


def profiled(pid: int, seconds: float, out: Path, run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """Runs `run()` while py-spy samples `pid` for `seconds`; returns run's result and the summary."""
    result, summaries = profiled_processes({out: pid}, run, seconds)
    return result, summaries[out]


def profiled_processes(outs: dict[Path, int], run: Callable[[], dict[str, Any]], seconds: float | None = None
                       ) -> tuple[dict[str, Any], dict[Path, str]]:
    """Runs `run()` while py-spy samples each process (output file -> pid) for `seconds`, or, when None,
    until `run()` returns (py-spy saves what it has on SIGINT); returns run's result and each summary."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    duration = max(1, round(seconds)) if seconds is not None else None
    spies = {}
    for out, pid in outs.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [binary, "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking", "--full-filenames",
               "--format", "raw", "--output", str(out), *(["--duration", str(duration)] if duration else [])]
        spies[out] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    began = time.monotonic()
    try:
        result = run()
        sampled = time.monotonic() - began
        if duration is None:
            for spy in spies.values():
                spy.send_signal(signal.SIGINT)
        errors = {out: spy.communicate(timeout=(duration or 0) + 30)[1] for out, spy in spies.items()}
    finally:
        for spy in spies.values():
            if spy.poll() is None:
                spy.kill()
                spy.wait()
    summaries = {}
    for out, spy in spies.items():
        if not out.exists() or (duration and spy.returncode):
            raise RuntimeError(f"py-spy failed ({spy.returncode}): {errors[out].decode(errors='replace')[-500:]}")
        summaries[out] = summarize(out, duration or sampled, RATE)
        out.with_suffix(".txt").write_text(summaries[out])
    return result, summaries
