"""Each service's PostgreSQL database and login roles, on a server that exists. consent, keyvault, dsr
and portal: one role owning one database no other role may enter. audit: a schema owner used only for
migrations and the service's role, which may read and insert the log but never change it
(services/audit/provision.py)."""

import secrets
from urllib.parse import quote, urlsplit

import asyncpg

from services.audit import provision as audit
from services.common.pg_admin import existing_roles, provision_database
from services.provision import ProvisionError, Provisioned

SERVICES = ("consent", "keyvault", "dsr", "audit", "portal")


def role_dsn(admin_dsn: str, role: str, password: str, database: str) -> str:
    """The admin's DSN (same server, same options) for `role` and `database`."""
    parts = urlsplit(admin_dsn)
    server = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{quote(role, safe='')}:{quote(password, safe='')}@{server}",
                          path="/" + quote(database, safe="")).geturl()


def check_admin_dsn(admin_dsn: str) -> None:
    parts = urlsplit(admin_dsn)
    if not admin_dsn:
        raise ProvisionError("CONSENTRY_PROVISION_DATABASE_URL is not set: the DSN of a role that may create"
                             " roles and databases, e.g. postgresql://postgres:PASSWORD@db.example:5432/postgres")
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise ProvisionError("CONSENTRY_PROVISION_DATABASE_URL is not a PostgreSQL DSN with a host"
                             " (postgresql://ROLE:PASSWORD@HOST:PORT/DATABASE)")


async def provision_service_database(admin_dsn: str, service: str, database: str | None = None,
                                     role: str | None = None, owner_role: str | None = None,
                                     new_password: bool = False) -> Provisioned:
    """The service's database and roles. A role made now gets a new password, as does every role with
    `new_password`; the others keep theirs. The service's DATABASE_URL (and audit's
    OWNER_DATABASE_URL) come back for every role whose password was set."""
    if service not in SERVICES:
        raise ProvisionError(f"no service {service!r}: one of {', '.join(SERVICES)}")
    check_admin_dsn(admin_dsn)
    prefix = f"CONSENTRY_{service.upper()}_"
    database = database or service
    if service == "audit":
        roles = {owner_role or audit.OWNER: f"{prefix}OWNER_DATABASE_URL", role or audit.SERVICE: f"{prefix}DATABASE_URL"}
        if len(roles) < 2:
            raise ProvisionError("audit's owner role and service role must differ: the service's may never"
                                 " change the log")
    elif owner_role:
        raise ProvisionError(f"{service} has one role, which owns its database: --owner-role is audit's")
    else:
        roles = {role or database: f"{prefix}DATABASE_URL"}
    server = urlsplit(admin_dsn).netloc.rsplit("@", 1)[-1]
    try:
        existing = await existing_roles(admin_dsn, list(roles))
        passwords = {r: secrets.token_urlsafe(24) for r in roles if new_password or r not in existing}
        if service == "audit":
            owner, service_role = roles
            changed = await audit.provision_database(admin_dsn, database, owner, service_role, passwords)
        else:
            [only] = roles
            changed = await provision_database(admin_dsn, database, only, passwords.get(only))
    except asyncpg.PostgresError as error:
        raise ProvisionError(f"PostgreSQL at {server}: {type(error).__name__}: {error}") from None
    except (OSError, TimeoutError) as error:
        raise ProvisionError(f"cannot reach PostgreSQL at {server}: {error}") from None
    provisioned = Provisioned(changed + [f"password of role {r}" for r in passwords if r in existing],
                              {roles[r]: role_dsn(admin_dsn, r, p, database) for r, p in passwords.items()})
    kept = [r for r in roles if r not in passwords]
    if kept:
        provisioned.notes.append(f"roles {', '.join(kept)} kept their passwords (--new-password sets new ones)")
    return provisioned
