"""The platform's staff in the console: who they are and what each role may see and do.

A DPO works inside one controller and sees nothing of another; an auditor reads (one controller's, or
the platform's) and changes nothing; a platform operator sees and acts on the whole platform."""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

# A staff account's name: short, readable, safe in a log line and an audit entry.
ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9._-]{1,63}")
ACCOUNT_NAME_RULE = "2 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter"
MIN_PASSWORD = 12
MAX_PASSWORD = 256
# Wrong passwords or codes in a row that lock an account, and for how long.
FAILURES_TO_LOCK = 5
LOCKED_FOR = timedelta(minutes=15)


class Role(Enum):
    DPO = "dpo"
    OPERATOR = "operator"
    AUDITOR = "auditor"


@dataclass(frozen=True)
class StaffAccount:
    name: str
    role: Role
    controller_id: str | None  # None: the whole platform (an operator, or an auditor of the platform)

    @property
    def may_change(self) -> bool:
        return self.role is not Role.AUDITOR

    def sees(self, controller_id: str) -> bool:
        return self.controller_id is None or self.controller_id == controller_id

    def scope(self, chosen: str = "") -> str:
        """The controller a list is read in: the account's own, or for the platform's staff the one
        they chose ("": every controller)."""
        return self.controller_id if self.controller_id is not None else chosen


@dataclass(frozen=True)
class Credentials:
    """What a sign-in is checked against."""
    account: StaffAccount
    password_hash: str  # argon2id
    totp_secret: str
    last_step: int  # the last TOTP time step used
    locked_until: datetime | None
    disabled: bool = False  # by an operator: it signs in no more, whatever it presents


@dataclass(frozen=True)
class StaffSession:
    account: StaffAccount
    expires_at: datetime


def new_account_problems(name: str, role: Role, controller_id: str | None, password: str) -> list[tuple[str, str]]:
    """(field, what is wrong) for each field an account cannot be created with."""
    problems = []
    if not ACCOUNT_NAME.fullmatch(name):
        problems.append(("name", ACCOUNT_NAME_RULE))
    if role is Role.DPO and not controller_id:
        problems.append(("controller_id", "a DPO works inside one controller: name it"))
    if role is Role.OPERATOR and controller_id:
        problems.append(("controller_id", "an operator sees the platform, not one controller: leave it empty"))
    if password and not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        problems.append(("password", f"{MIN_PASSWORD} to {MAX_PASSWORD} characters, or none for an account that"
                         " signs in at the identity provider only"))
    return problems


@dataclass(frozen=True)
class Flow:
    """What one sign-in at the identity provider carries, kept by the browser between leaving and coming
    back: the state it must return, the nonce its ID token must name, the PKCE verifier."""
    state: str
    nonce: str
    verifier: str
