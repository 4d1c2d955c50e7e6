"""`--profile`: sample the consent server with py-spy during an extra round of each scenario.

py-spy is optional (`pip install py-spy`); it runs non-blocking, so the server is not paused while
sampled, but the sampler still takes CPU on a small machine: rounds run under it are reported
apart and never enter the medians. Output: raw collapsed stacks plus a summary of where the
samples fall (own time per function, and time per function including callees).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _short(frame: str) -> str:
    """`func (path/to/pkg/mod.py:12)` -> `func (pkg/mod.py)`: per function, not per line."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    parts = Path(m["file"]).parts
    return f"{m['func']} ({'/'.join(parts[-2:])})"


def summarize(collapsed: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        frames = frames[1:] if frames and frames[0].startswith(("process ", "thread ")) else frames
        total += n
        if frames:
            own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    if not total:
        return "no samples\n"

    def block(title: str, counts: Counter[str]) -> list[str]:
        return [title] + [f"  {100 * c / total:5.1f}%  {name}" for name, c in counts.most_common(top)]

    lines = [f"{total} samples of non-idle threads"]
    lines += block("own time (leaf frame):", own) + block("including callees:", inclusive)
    return "\n".join(lines) + "\n"


def profiled(pid: int, seconds: float, out: Path, run: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """Runs `run()` while py-spy samples `pid` for `seconds`; returns run's result and the summary."""
    binary = py_spy()
    if binary is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", "250",
           "--nonblocking", "--format", "raw", "--output", str(out)]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        result = run()
        _, err = spy.communicate(timeout=seconds + 30)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode or not out.exists():
        raise RuntimeError(f"py-spy failed ({spy.returncode}): {err.decode(errors='replace')[-500:]}")
    summary = summarize(out)
    out.with_suffix(".txt").write_text(summary)
    return result, summary
