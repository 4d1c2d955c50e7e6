"""One-time set-up for the audit service, run by an operator (or the dev stack) with admin rights.

PostgreSQL: the schema belongs to an owner role that only migrations use; the service logs in as a
role that may read and insert the log but never update, delete or truncate it. Vault: an Ed25519
transit key signs checkpoints, and the service's token may sign with it and read its public half,
nothing else, so the signing key never leaves Vault."""

import asyncpg
import hvac

from services.common.db import scram_verifier

WRITER_GROUP = "consentry_audit_writer"  # named by the migrations' GRANTs


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def provision_database(admin_dsn: str, database: str, owner: str = "consentry_audit_owner",
                             service: str = "consentry_audit", passwords: dict[str, str] | None = None) -> None:
    """Creates the roles (if missing) and the database owned by `owner`, which only the two roles may
    enter; `passwords` (role: password) sets the login passwords, kept out of the statements."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        existing = {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles")}
        for role, options in ((WRITER_GROUP, "NOLOGIN"), (owner, "LOGIN"), (service, "LOGIN")):
            if role not in existing:
                try:
                    await conn.execute(f"CREATE ROLE {_quoted(role)} {options}")
                except asyncpg.DuplicateObjectError:  # another provisioner was faster
                    pass
        for role, password in (passwords or {}).items():
            await conn.execute(f"ALTER ROLE {_quoted(role)} PASSWORD '{scram_verifier(password)}'")
        await conn.execute(f"GRANT {_quoted(WRITER_GROUP)} TO {_quoted(service)}")
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            try:
                await conn.execute(f"CREATE DATABASE {_quoted(database)} OWNER {_quoted(owner)}")
            except asyncpg.DuplicateDatabaseError:
                pass
        await conn.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {_quoted(database)} FROM PUBLIC")
        await conn.execute(f"GRANT CONNECT ON DATABASE {_quoted(database)} TO {_quoted(service)}")
    finally:
        await conn.close()


def checkpoint_signer_policy(key_name: str, mount: str = "transit") -> str:
    return (f'path "{mount}/sign/{key_name}" {{ capabilities = ["update"] }}\n'
            f'path "{mount}/keys/{key_name}" {{ capabilities = ["read"] }}\n')


def provision_vault(admin: hvac.Client, key_name: str = "consentry-audit-checkpoints",
                    mount: str = "transit") -> str:
    """Returns a token that can only sign checkpoints and read the public key."""
    if f"{mount}/" not in admin.sys.list_mounted_secrets_engines()["data"]:
        admin.sys.enable_secrets_engine("transit", path=mount)
    admin.secrets.transit.create_key(key_name, key_type="ed25519", mount_point=mount)
    admin.sys.create_or_update_policy("consentry-audit", checkpoint_signer_policy(key_name, mount))
    token = admin.auth.token.create(policies=["consentry-audit"], no_default_policy=True, renewable=True,
                                    ttl="768h")
    return token["auth"]["client_token"]
