"""asyncpg pool, versioned SQL migrations applied at start under an advisory lock, and the stored
form of a role's password."""

import asyncio
import base64
import hashlib
import hmac
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

from services.common.logging import get_logger

log = get_logger(__name__)

# Any constant works; it only has to be the same for every replica of every service.
_MIGRATION_LOCK = 7_231_004

# A migration SQL cannot express (e.g. one that needs a key held in Vault); runs in the migration's
# transaction like a SQL file.
MigrationStep = Callable[[asyncpg.Connection], Awaitable[None]]
# The first line of a SQL migration that must run outside a transaction (CREATE INDEX CONCURRENTLY):
# its statements, separated by ";" at the end of a line, run one by one, and each must be safe to
# run again, as a start that stops between them and the record of the migration repeats them.
NO_TRANSACTION = "-- no transaction"


@dataclass(frozen=True)
class Statement:
    """SQL and its arguments, its placeholders numbered from a chosen one: a write that can ride on
    another statement as a data-modifying WITH, saving its own round trip."""

    sql: str
    args: tuple


async def create_pool(dsn: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, reset=_keep_session)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's reset query, a round trip on every release: no code here
    leaves session state on a pooled connection. LISTEN uses connections of its own; the session
    locks taken on pooled ones (outbox relay leadership, migrations) are unlocked before release, and
    the relay closes its connection instead when it leaves by an error. asyncpg itself still rolls
    back an abandoned transaction and drops listeners."""


def migrations_in(package: str, steps: dict[str, MigrationStep] | None = None
                  ) -> list[tuple[str, str | MigrationStep]]:
    """(name, sql) for every `NNNN_*.sql` file of a package's `migrations` folder, with the package's
    Python `steps` (named `NNNN_*` too) among them, in order of name."""
    folder: Traversable = resources.files(package) / "migrations"
    found: list[tuple[str, str | MigrationStep]] = [
        (f.name, f.read_text()) for f in folder.iterdir() if f.name.endswith(".sql")]
    return [(f"{package}:{name}", sql) for name, sql in sorted(found + list((steps or {}).items()),
                                                               key=lambda m: m[0])]


async def apply_migrations(pool: asyncpg.Pool, migrations: list[tuple[str, str | MigrationStep]]) -> list[str]:
    """Applies each not-yet-applied migration in its own transaction (one marked NO_TRANSACTION
    statement by statement); returns the names applied."""
    applied: list[str] = []
    async with pool.acquire() as conn:
        # Polled, not waited for: a replica waiting inside a statement holds a snapshot, and an index
        # built CONCURRENTLY by the replica holding the lock would wait for that snapshot in turn.
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _MIGRATION_LOCK):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            for name, sql in migrations:
                if name in done:
                    continue
                if isinstance(sql, str) and sql.startswith(NO_TRANSACTION):
                    for statement in re.split(r";\s*\n", sql):
                        if _without_comments(statement):
                            await conn.execute(statement)
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                else:
                    async with conn.transaction():
                        await (conn.execute(sql) if isinstance(sql, str) else sql(conn))
                        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                applied.append(name)
                log.info("migration applied", migration=name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


def _without_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--")).strip()


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password: setting a role's password to this keeps
    the password itself out of every statement (and so out of any log of statements)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return (f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
            f"${b64(hashlib.sha256(client_key).digest()).decode()}:{b64(server_key).decode()}")
