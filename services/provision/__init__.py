"""What an operator sets up once, with administrative rights, before the services first start, on
servers that already exist (PostgreSQL, Vault/OpenBao, Kafka): `consentry provision`. The dev
platform sets up its own servers with the same steps (services/common/pg_admin.py and vault_admin.py,
and each service's provision module).

Every step leaves what exists as it is, so running it again changes nothing. What a step made that
a service needs (a new role's database URL, a token when one is asked for) comes back as the
service's own settings, the environment variables it reads."""

from dataclasses import dataclass, field


class ProvisionError(Exception):
    """The step cannot be done; the message says why in one line."""


@dataclass
class Provisioned:
    changed: list[str] = field(default_factory=list)  # what this run created or rewrote
    # Environment variables for the service. Secrets only when this run made them: a password is
    # shown once, when it is set.
    settings: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
