"""Signing in to a controller's portal. A face system's backend, for a person it has signed in, asks for a
link; the person follows it once, within minutes, and holds a session of the portal from then on.

Links and sessions are bearer secrets: 32 random bytes, given out once and kept at rest only as their
SHA-256, so a copy of the database signs no one in. A session ends when its person signs out, after
a spell of inactivity, or at its absolute end, whichever comes first."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

LINK_LIFETIME = timedelta(minutes=5)
MOST_WARDS = 10


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Person:
    """Who a link or session signs in: a subject of one controller, under the law of where they are."""
    controller_id: str
    subject_id: str
    jurisdiction: str


@dataclass(frozen=True)
class Ward:
    """A minor in the person's care, as the app verified it: the person manages the minor's consents."""
    subject_id: str
    verification_ref: str  # how the app verified the guardianship
    label: str  # how the portal names the minor to the guardian


@dataclass(frozen=True)
class Session:
    person: Person
    language: str  # the language the link asked for ("" for the browser's choice)
    verified_by: str  # how the person was verified when signing in: "app-link"
    expires_at: datetime
    wards: tuple[Ward, ...] = ()
    # The platform deleted the person (or a ward) since: the pages still read, nothing changes any more.
    forgotten: bool = False

    def acting_for(self, ward: int) -> tuple[Person, Ward | None]:
        """Whose consents a page is about: 0 the person's own, n their n-th ward's (IndexError for none)."""
        if ward == 0:
            return self.person, None
        if not 0 < ward <= len(self.wards):
            raise IndexError(ward)
        chosen = self.wards[ward - 1]
        return Person(self.person.controller_id, chosen.subject_id, self.person.jurisdiction), chosen


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=8)
    after_deletion: timedelta = timedelta(minutes=10)  # to read the deletion's certificate, and no longer
