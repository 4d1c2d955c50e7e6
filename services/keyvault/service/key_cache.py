"""Plaintext subject keys, briefly, so releases need no Vault round trip. A shred purges the entry
on every replica through a PostgreSQL notification sent at commit; without that channel nothing is
cached. Key generations are cached by a second instance under the same rule. Entries are named as
the notifications name them: a subject key by the subject's tag, a generation by tag and purpose."""

import random
import time
from typing import Generic, TypeVar

V = TypeVar("V")


class SubjectKeyCache(Generic[V]):
    def __init__(self, ttl_s: float = 60.0, max_entries: int = 100_000) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._keys: dict[str, tuple[float, V]] = {}  # name: (expires at, key)
        self._epoch = 0
        self.enabled = False

    @property
    def epoch(self) -> int:
        return self._epoch

    def get(self, name: str) -> V | None:
        entry = self._keys.get(name) if self.enabled else None
        if entry is None:
            return None
        if time.monotonic() > entry[0]:
            self._keys.pop(name, None)
            return None
        return entry[1]

    def put(self, read_epoch: int, name: str, key: V) -> None:
        """Kept only if no purge happened since the key was read (it may have been shredded meanwhile)."""
        if not self.enabled or read_epoch != self._epoch:
            return
        if len(self._keys) >= self._max:
            self._keys.clear()
        # Spread expiries, so keys cached together are not all unwrapped again in the same second.
        self._keys[name] = (time.monotonic() + self._ttl * random.uniform(0.8, 1.0), key)

    def purge(self, name: str) -> None:
        self._epoch += 1
        self._keys.pop(name, None)

    def enable(self) -> None:
        self._epoch += 1
        self._keys.clear()
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False
        self._epoch += 1
        self._keys.clear()
