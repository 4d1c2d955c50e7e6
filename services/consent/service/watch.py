"""What a WatchConsents stream tells its reader of one announced change: nothing of another controller
or of a purpose the reader may not use, and subjects only by a keyed reference under the stream's
own key. Payloads are written by the triggers of store migration 0010."""

import hashlib
import hmac
from dataclasses import dataclass

WATCH_CHANNEL = "consent_watch"
_SEPARATOR = "\x1f"
_EVERYTHING = "*"


@dataclass(frozen=True)
class ConsentChange:
    controller_id: str
    subject_id: str | None = None  # None: anything of the controller may have changed
    purpose_id: str | None = None


def parse(payload: str) -> ConsentChange:
    first, _, rest = payload.partition(_SEPARATOR)
    if first == _EVERYTHING:
        return ConsentChange(rest)
    subject_id, _, purpose_id = rest.partition(_SEPARATOR)
    return ConsentChange(first, subject_id, purpose_id)


def subject_reference(ref_key: bytes, subject_id: str) -> bytes:
    return hmac.new(ref_key, subject_id.encode(), hashlib.sha256).digest()


class ConsentWatch:
    """One stream's view: its controller, the purposes its reader may use (None: every one)."""

    def __init__(self, controller_id: str, purposes: frozenset[str] | None, ref_key: bytes) -> None:
        self._controller, self._purposes, self.ref_key = controller_id, purposes, ref_key

    def concerns(self, change: ConsentChange) -> bool:
        if change.controller_id != self._controller:
            return False
        return change.purpose_id is None or self._purposes is None or change.purpose_id in self._purposes

    def reference(self, subject_id: str) -> bytes:
        return subject_reference(self.ref_key, subject_id)
