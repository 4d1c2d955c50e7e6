"""Linux /proc helpers: who listens on a port, and killing a whole process tree."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

POLL_INTERVAL = 0.05


def listens_on(pid: int, port: int) -> bool:
    """True when `pid` itself holds a listening TCP socket on `port`.

    A bare connect test can be answered by whoever else owns the port, e.g. a
    second broker that binds with SO_REUSEPORT or an older instance.
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False


def _stat(stat_file: Path) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ..."""
    try:
        return stat_file.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return ["X"]


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    return _stat(Path(f"/proc/{pid}/stat"))[0] not in ("Z", "X")


def kill_tree(pid: int) -> list[int]:
    """SIGKILL `pid`, its process group and all its descendants; return their pids.

    The group alone is not enough: postgres makes every backend a session leader.
    The root is stopped first so that it cannot fork while we collect children.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGSTOP)
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        fields = _stat(stat_file)
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for member in tree:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(member, signal.SIGKILL)
    return tree


def wait_gone(pids: list[int], timeout: float = 10.0) -> None:
    """Poll until none of `pids` is alive; orphans may stay zombies until init reaps them."""
    deadline = time.monotonic() + timeout
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
