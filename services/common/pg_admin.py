"""Roles and databases, made by an administrator before a service first starts (`consentry
provision`, the dev platform). Each step leaves what exists as it is, so running it again changes
nothing; a password is set only when one is given, as a SCRAM verifier, never as text a log of
statements could show."""

import asyncpg

from services.common.db import scram_verifier


def quoted(name: str) -> str:
    """An identifier as SQL names it: roles and databases cannot be statement parameters."""
    return '"' + name.replace('"', '""') + '"'


async def ensure_role(conn: asyncpg.Connection, name: str, *, login: bool = True) -> bool:
    """Creates the role unless it exists; whether it did."""
    if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
        return False
    try:
        await conn.execute(f"CREATE ROLE {quoted(name)} {'LOGIN' if login else 'NOLOGIN'}")
    except asyncpg.DuplicateObjectError:  # another provisioner was faster
        return False
    return True


async def set_password(conn: asyncpg.Connection, role: str, password: str) -> None:
    await conn.execute(f"ALTER ROLE {quoted(role)} PASSWORD '{scram_verifier(password)}'")


async def ensure_database(conn: asyncpg.Connection, name: str, owner: str | None = None) -> bool:
    """Creates the database unless it exists (CREATE DATABASE has no IF NOT EXISTS); whether it did.
    With an owner, only that role (and superusers) may connect to it."""
    created = False
    if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        try:
            await conn.execute(f"CREATE DATABASE {quoted(name)}" + (f" OWNER {quoted(owner)}" if owner else ""))
            created = True
        except asyncpg.DuplicateDatabaseError:
            pass
    if owner:
        await conn.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {quoted(name)} FROM PUBLIC")
    return created


async def provision_database(admin_dsn: str, database: str, role: str, password: str | None = None) -> list[str]:
    """A login role and the database it owns, which no other role may enter: what consent, keyvault
    and dsr each need. The role's password is set when given. Returns what was created."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        created = [f"role {role}"] if await ensure_role(conn, role) else []
        if password is not None:
            await set_password(conn, role, password)
        return created + ([f"database {database}"] if await ensure_database(conn, database, role) else [])
    finally:
        await conn.close()


async def existing_roles(admin_dsn: str, names: list[str]) -> set[str]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        return {r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", names)}
    finally:
        await conn.close()
