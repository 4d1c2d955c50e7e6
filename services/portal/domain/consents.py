"""What a person sees of their consents at one controller: one card per purpose, with the notice in
their language and the state of their consent to it."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum


class State(Enum):
    NONE = "none"  # never given
    GIVEN = "given"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RENEWAL_REQUIRED = "renewal_required"  # the notice changed materially since it was given
    ERASED = "erased"


@dataclass(frozen=True)
class Controller:
    controller_id: str
    legal_name: str
    address: str
    contact: str


@dataclass(frozen=True)
class Notice:
    version: int
    language: str
    text: str
    content_hash: str
    published_at: datetime


@dataclass(frozen=True)
class Purpose:
    purpose_id: str
    name: str
    description: str
    data_categories: tuple[str, ...]  # "face_template", "raw_image", "liveness"
    on_server: bool  # else on the person's device
    retention: timedelta
    non_face_alternative: str
    withdrawal_method: str
    notice: Notice | None  # the current version, in the person's language where it has one


@dataclass(frozen=True)
class Consent:
    state: State
    notice_version: int
    granted_at: datetime | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Card:
    purpose: Purpose
    consent: Consent | None

    @property
    def state(self) -> State:
        return self.consent.state if self.consent else State.NONE

    @property
    def may_grant(self) -> bool:
        return self.purpose.notice is not None and self.state in (
            State.NONE, State.WITHDRAWN, State.EXPIRED, State.RENEWAL_REQUIRED)

    @property
    def may_withdraw(self) -> bool:
        return self.state in (State.GIVEN, State.RENEWAL_REQUIRED)


@dataclass(frozen=True)
class Receipt:
    """The signed receipt of a consent in force, as consent issued it: the signed bytes, the Ed25519
    signature and the id of the key that made it."""

    receipt_json: bytes
    signature: bytes
    key_id: str


def notice_in(notices: list[Notice], version: int, language: str) -> Notice | None:
    """The notice of that version in the language, else in the language's base ("zh" for "zh-CN"),
    else in any language it was published in."""
    current = [n for n in notices if n.version == version]
    base = language.split("-")[0]
    for wanted in (lambda n: n.language == language, lambda n: n.language.split("-")[0] == base, lambda n: True):
        found = next((n for n in current if wanted(n)), None)
        if found:
            return found
    return None
