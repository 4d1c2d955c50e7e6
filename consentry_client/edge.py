"""Data keys kept in a face system's memory exactly as long as they may be used.

Without it, every template a gate opens is a DecryptDataKey round trip with a consent check behind
it. An EdgeView keeps each released data key and follows two streams: WatchConsents (every change of
consent at the face system's controller) and WatchKeys (every subject key that stops being usable).
A kept key is dropped the moment either stream names its subject, and is used only while
- both streams are live: each heard a heartbeat within `silence_bound_s`. Heartbeats travel through
  the services' databases behind the changes, so one proves every change committed before it has
  arrived; a stream that ends or falls silent may have missed one;
- the consent it was released under has not reached its end by time (`valid_until`), nor the key
  `max_age_s` in memory;
- no change arrived while its release was on the way (the release may predate the change).
When a stream ends, everything is dropped: what it would have said meanwhile is lost. Until it is back
and beating nothing is answered from memory, and opens go to keyvault, which decides as always.
Every use from memory is answered only while a durable account at keyvault covers its key; keyvault
checks the key may still be used before it records an account (reuse_accounts.py)."""

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_client.reuse_accounts import ReuseAccounts

log = logging.getLogger(__name__)

Held = tuple[str, str, bytes]  # (subject, purpose, wrapped key)


@dataclass(frozen=True)
class Kept:
    key: AESGCM
    consent_id: str
    consent_lapses: int  # with consent_id, the consent term the key was released under
    use_until: float  # time.monotonic()
    consent_ref: tuple[bytes, str]  # as WatchConsents names the subject and purpose
    key_ref: bytes  # as WatchKeys names the subject's key


class _Follower:
    """Follows one watch stream for as long as it runs. A stream silent for `bound_s` is given up (what
    it still holds would come late), and any stream that ends is reopened after a pause."""

    def __init__(self, name: str, open_stream: Callable, bound_s: float, on_message: Callable,
                 on_beat: Callable[[], None], on_lost: Callable[[], None]) -> None:
        self.name, self._bound = name, bound_s
        self._open, self._on_message, self._on_beat, self._on_lost = open_stream, on_message, on_beat, on_lost
        self.last_beat = float("-inf")

    def unheard(self) -> None:
        """Until the next heartbeat, this stream vouches for nothing (it said `reset`, or it restarted)."""
        self.last_beat = float("-inf")

    async def run(self) -> None:
        pause = 0.1
        while True:
            stream = None
            try:
                stream = self._open()
                while (message := await asyncio.wait_for(stream.read(), self._bound)) is not grpc.aio.EOF:
                    kind = message.WhichOneof("event")
                    if kind == "heartbeat":
                        self.last_beat, pause = time.monotonic(), 0.1
                        self._on_beat()
                    else:
                        if kind == "started" and message.started.heartbeat_interval.ToTimedelta().total_seconds() \
                                >= self._bound:
                            log.warning("%s beats no more often than the silence bound: never live", self.name)
                        self._on_message(message)
                log.warning("%s stream ended; reopening", self.name)
            except TimeoutError:
                log.warning("%s stream silent for %.1f s; reopening", self.name, self._bound)
            except Exception as error:  # noqa: BLE001 - whatever ended it, the stream is reopened
                code = error.code().name if isinstance(error, grpc.aio.AioRpcError) else type(error).__name__
                log.warning("%s stream failed (%s); reopening", self.name, code)
            finally:
                if stream is not None:
                    stream.cancel()
                self.unheard()
                self._on_lost()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


class EdgeView:
    def __init__(self, consent: grpc.aio.Channel, keyvault: grpc.aio.Channel, *, silence_bound_s: float = 2.0,
                 max_age_s: float = 600.0, max_entries: int = 100_000, account_window_s: float = 1.0) -> None:
        consents, keys = consent_pb2_grpc.ConsentServiceStub(consent), keyvault_pb2_grpc.KeyVaultServiceStub(keyvault)
        self._consents = _Follower("WatchConsents", lambda: consents.WatchConsents(cpb.WatchConsentsRequest()),
                                   silence_bound_s, self._consent_message, self._heard, self._lost)
        self._keys = _Follower("WatchKeys", lambda: keys.WatchKeys(kpb.WatchKeysRequest()), silence_bound_s,
                               self._key_message, self._heard, self._lost)
        self._beating = asyncio.Event()
        self.accounts = ReuseAccounts(keyvault, window_s=account_window_s, on_refused=self.forget)
        self._bound, self._max_age, self._max_entries = silence_bound_s, max_age_s, max_entries
        self._ref_key = b""
        self._kept: dict[Held, Kept] = {}
        self._by_consent: dict[tuple[bytes, str], set[Held]] = {}
        self._by_key: dict[bytes, set[Held]] = {}
        self._version = 0
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> "EdgeView":
        self._tasks = [asyncio.create_task(f.run()) for f in (self._consents, self._keys)]
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.accounts.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.drop_all()

    @property
    def live(self) -> bool:
        return self._live_at(time.monotonic())

    def _live_at(self, now: float) -> bool:
        return now - self._consents.last_beat <= self._bound and now - self._keys.last_beat <= self._bound

    async def until_live(self) -> None:
        """Until both streams have heard a heartbeat (wrap it in a timeout)."""
        await self._beating.wait()

    def _heard(self) -> None:
        if self.live:
            self._beating.set()

    def _lost(self) -> None:
        self._beating.clear()
        self.drop_all()

    @property
    def version(self) -> int:
        """Taken before a release is asked for: `keep` stores it only if nothing changed since."""
        return self._version

    def __len__(self) -> int:
        return len(self._kept)

    def kept(self, subject_id: str, purpose_id: str, wrapped_key: bytes) -> Kept | None:
        """The kept key, if it may be used now."""
        entry = self._kept.get((subject_id, purpose_id, wrapped_key))
        if entry is None:
            return None
        now = time.monotonic()
        if not self._live_at(now):
            return None
        if now >= entry.use_until:
            self._drop((subject_id, purpose_id, wrapped_key))
            return None
        return entry

    def keep(self, version: int, subject_id: str, purpose_id: str, wrapped_key: bytes,
             released: kpb.DecryptDataKeyResponse, key: AESGCM) -> None:
        if version != self._version or not self.live or not released.key_ref or not self._ref_key:
            return
        now = time.monotonic()
        use_until = now + self._max_age
        if released.HasField("valid_until"):
            use_until = min(use_until, now + (released.valid_until.ToNanoseconds() / 1e9 - time.time()))
        if use_until <= now:
            return
        if len(self._kept) >= self._max_entries:
            self.drop_all()
        held, consent_ref = (subject_id, purpose_id, wrapped_key), self._consent_ref(subject_id, purpose_id)
        self._kept[held] = Kept(key, released.consent_id, released.consent_lapses, use_until, consent_ref,
                                released.key_ref)
        self._by_consent.setdefault(consent_ref, set()).add(held)
        self._by_key.setdefault(released.key_ref, set()).add(held)

    def forget(self, subject_id: str, purpose_id: str) -> None:
        """Drops the subject's kept keys for the purpose (keyvault refused a use of one)."""
        if self._ref_key:
            self._drop_named(self._by_consent, self._consent_ref(subject_id, purpose_id))

    def drop_all(self) -> None:
        self._version += 1
        self._kept.clear()
        self._by_consent.clear()
        self._by_key.clear()

    def _consent_message(self, message: cpb.WatchConsentsResponse) -> None:
        kind = message.WhichOneof("event")
        if kind == "changed":
            self._drop_named(self._by_consent, (message.changed.subject_ref, message.changed.purpose_id))
        else:  # started (a new stream, a new key for its references), reset, or one not known yet
            if kind == "started":
                self._ref_key = message.started.ref_key
            self._start_over(self._consents)

    def _key_message(self, message: kpb.WatchKeysResponse) -> None:
        if message.WhichOneof("event") == "changed":
            self._drop_named(self._by_key, message.changed.key_ref)
        else:
            self._start_over(self._keys)

    def _start_over(self, follower: _Follower) -> None:
        """Changes may have been missed: nothing kept, and nothing from memory until the next beat."""
        follower.unheard()
        self._beating.clear()
        self.drop_all()

    def _consent_ref(self, subject_id: str, purpose_id: str) -> tuple[bytes, str]:
        return hmac.new(self._ref_key, subject_id.encode(), hashlib.sha256).digest(), purpose_id

    def _drop_named(self, index: dict, name) -> None:
        """Drops every key a stream's change names (any change: a release on its way is not kept)."""
        self._version += 1
        for held in list(index.get(name, ())):
            self._drop(held)

    def _drop(self, held: Held) -> None:
        entry = self._kept.pop(held, None)
        if entry is not None:
            _discard(self._by_consent, entry.consent_ref, held)
            _discard(self._by_key, entry.key_ref, held)


def _discard(index: dict, name, held: Held) -> None:
    members = index.get(name)
    if members is not None:
        members.discard(held)
        if not members:
            del index[name]
