"""One-time set-up for the audit service, run by an operator (or the dev stack) with admin rights.

PostgreSQL: the schema belongs to an owner role that only migrations use; the service logs in as a
role that may read and insert the log but never update, delete or truncate it. Vault: an Ed25519
transit key signs checkpoints, and the service's token may sign with it and read its public half,
nothing else, so the signing key never leaves Vault."""

import asyncpg
import hvac

from services.common.pg_admin import ensure_database, ensure_role, quoted, set_password
from services.common.vault_admin import ensure_engine, ensure_transit_key, issue_token, write_policy

WRITER_GROUP = "consentry_audit_writer"  # named by the migrations' GRANTs
OWNER, SERVICE = "consentry_audit_owner", "consentry_audit"
KEY_NAME, MOUNT = "consentry-audit-checkpoints", "transit"
POLICY = "consentry-audit"


async def provision_database(admin_dsn: str, database: str, owner: str = OWNER, service: str = SERVICE,
                             passwords: dict[str, str] | None = None) -> list[str]:
    """Creates the roles (if missing) and the database owned by `owner`, which only the two roles may
    enter; `passwords` (role: password) sets the login passwords, kept out of the statements.
    Returns what was created."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        created = [f"role {role}" for role, login in ((WRITER_GROUP, False), (owner, True), (service, True))
                   if await ensure_role(conn, role, login=login)]
        for role, password in (passwords or {}).items():
            await set_password(conn, role, password)
        await conn.execute(f"GRANT {quoted(WRITER_GROUP)} TO {quoted(service)}")
        if await ensure_database(conn, database, owner):
            created.append(f"database {database}")
        await conn.execute(f"GRANT CONNECT ON DATABASE {quoted(database)} TO {quoted(service)}")
    finally:
        await conn.close()
    return created


def checkpoint_signer_policy(key_name: str, mount: str = "transit") -> str:
    return (f'path "{mount}/sign/{key_name}" {{ capabilities = ["update"] }}\n'
            f'path "{mount}/keys/{key_name}" {{ capabilities = ["read"] }}\n')


def ensure_checkpoint_key(admin: hvac.Client, key_name: str = KEY_NAME, mount: str = MOUNT,
                          policy: str = POLICY) -> list[str]:
    """The transit mount, the Ed25519 checkpoint key and the signer's policy; what it changed."""
    changed = [f"secrets engine {mount}/"] if ensure_engine(admin, "transit", mount) else []
    if ensure_transit_key(admin, key_name, "ed25519", mount):
        changed.append(f"transit key {mount}/{key_name}")
    return changed + ([f"policy {policy}"] if write_policy(admin, policy, checkpoint_signer_policy(key_name, mount))
                      else [])


def provision_vault(admin: hvac.Client, key_name: str = KEY_NAME, mount: str = MOUNT) -> str:
    """Returns a token that can only sign checkpoints and read the public key."""
    ensure_checkpoint_key(admin, key_name, mount)
    return issue_token(admin, POLICY)
