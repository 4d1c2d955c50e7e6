"""What a WatchKeys stream tells its reader: which subject keys of its controller stopped being usable,
each named by a key reference, the same one DecryptDataKey hands out with the key. A reference is
keyed (under a key derived from the erasure key), so it says nothing to whoever was not given it,
and it is not the tag deletion certificates name the subject by. Payloads are written by the
triggers of store migration 0011."""

import hashlib
import hmac
from dataclasses import dataclass

from services.common.erasure import SubjectTagger

WATCH_CHANNEL = "key_watch"
_SEPARATOR = "\x1f"
_EVERYTHING = "*"
REF_BYTES = 16


@dataclass(frozen=True)
class KeyChange:
    controller_id: str
    tag: str | None  # None: any key of the controller may have changed


class KeyRefs:
    def __init__(self, tagger: SubjectTagger) -> None:
        self._key = tagger.derived_key("key-watch/v1")
        self._default_controller = tagger.default_controller

    def of_tag(self, tag: str) -> bytes:
        return hmac.new(self._key, tag.encode(), hashlib.sha256).digest()[:REF_BYTES]

    def parse(self, payload: str) -> KeyChange:
        """A key of the default controller is announced with no controller (from before controllers)."""
        first, _, tag = payload.partition(_SEPARATOR)
        if first == _EVERYTHING:
            first, tag = tag, ""
        return KeyChange(first or self._default_controller, tag or None)
