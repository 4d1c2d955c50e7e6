"""The services the scale section measures, one process per data set, each on a database of its own on
the run's PostgreSQL: started, stopped while their database is loaded (they cache: the consent gate's
decisions, the audit sequencer's tree), started again, and removed with their database afterwards so
the next part has the machine's memory to itself."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from bench.audit.processes import KEY_NAME, MOUNT, OWNER, ROLE, AuditProcesses
from bench.common.processes import GrpcServerProcess
from bench.common.stack import Stack
from services.audit.provision import provision_database, provision_vault


def label(n: int) -> str:
    """10,000,000 -> "10M", 100,000 -> "100k": names of processes and scenarios."""
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}k" if n % 1_000 == 0 else str(n)


def start_service(s: Stack, name: str, module: str, env: dict[str, str], port: int,
                  database: str | None = None) -> GrpcServerProcess:
    """`python -m <module>` as the run starts its services; its CPU is reported as `name`, and `database`'s
    outbox is waited for before every round."""
    proc = GrpcServerProcess(s.run_dir / name, name, [module], s.client_tls, env, port)
    s.on_exit(proc.stop)
    proc.start()
    assert proc.pid is not None
    s.pids[name] = proc.pid
    if database and database not in s.databases:
        s.databases.append(database)
    return proc


def restart(s: Stack, proc: GrpcServerProcess) -> float:
    """Starts a stopped process again (same port, settings, database); the seconds it took to serve."""
    proc.start(timeout=600)
    assert proc.pid is not None and proc.startup_seconds is not None
    s.pids[proc.name] = proc.pid
    return proc.startup_seconds


def retire(s: Stack, procs: list[GrpcServerProcess], databases: list[str]) -> None:
    """Stops the processes and drops their databases (nothing else waits for them any more)."""
    for proc in procs:
        proc.stop()
        s.pids.pop(proc.name, None)
    for database in databases:
        if database in s.databases:
            s.databases.remove(database)
        s.pg.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


# Roles of the section's own for its audit databases: the audit section's processes, if they ran, keep
# using the standard ones, whose passwords provisioning would otherwise change under them.
SCALE_ROLES = {OWNER: "consentry_audit_scale_owner", ROLE: "consentry_audit_scale"}


@dataclass(frozen=True)
class ScaleAudit(AuditProcesses):
    """Audit processes configured as the audit section configures them, on roles of their own."""

    def dsn(self, database: str, role: str = ROLE) -> str:
        return self.s.pg.dsn(database, SCALE_ROLES[role], self.passwords[role])

    @classmethod
    def provision(cls, s: Stack, databases: list[str]) -> ScaleAudit:
        token = provision_vault(s.vault_metrics.client(), KEY_NAME, MOUNT)
        passwords = {OWNER: secrets.token_urlsafe(24), ROLE: secrets.token_urlsafe(24)}
        for database in databases:
            asyncio.run(provision_database(s.pg.dsn(), database, SCALE_ROLES[OWNER], SCALE_ROLES[ROLE],
                                           {SCALE_ROLES[r]: p for r, p in passwords.items()}))
        return cls(s, token, passwords)
