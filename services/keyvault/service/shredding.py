"""Crypto-shredding without holding a database lock across a Vault call.

The row is read, Vault does its part, and the result is committed only if the row is still what
was read; otherwise the shred starts over. A backend that destroys the key inside Vault first
marks the row SHREDDING (the key is unusable from then on) with the subject reference, so a shred
interrupted after Vault's delete is finished by its retry instead of being stuck."""

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

from services.common.erasure import SubjectTagger
from services.common.ids import new_id
from services.common.logging import get_logger
from services.common.signing import Ed25519Signer
from services.keyvault.domain import errors
from services.keyvault.domain import events as ev
from services.keyvault.domain.certificate import build_certificate, canonical_bytes
from services.keyvault.domain.model import Certificate, KeyState, SubjectKey
from services.keyvault.service.backends import Backend
from services.keyvault.service.key_cache import SubjectKeyCache
from services.keyvault.service.ports import KeyUnits

log = get_logger(__name__)

# Each attempt that finds the row changed (a first key created, a KEK rotation) starts over.
MAX_ATTEMPTS = 5


class Shredder:
    def __init__(self, uow: KeyUnits, backend: Backend, cache: SubjectKeyCache, signer: Ed25519Signer,
                 subject_ref: Callable[[SubjectKey], Awaitable[str]], tagger: SubjectTagger) -> None:
        self._uow, self._backend, self._cache, self._signer = uow, backend, cache, signer
        self._subject_ref, self._tagger = subject_ref, tagger

    async def shred(self, controller_id: str, subject_id: str, request_id: str, reason: str) -> Certificate:
        """Destroys the key of the subject at the controller (never the same person's at another) and
        returns the signed certificate naming the controller; a repeat returns the first one."""
        for _ in range(MAX_ATTEMPTS):
            async with self._uow.autocommit() as store:
                key = await store.get(controller_id, subject_id)
                if key is not None and key.state is KeyState.SHREDDED:
                    certificate = await store.certificate(controller_id, subject_id)
                    assert certificate is not None
                    return certificate
            if key is None:  # never had a key: the tombstone alone forbids creating one later
                key = SubjectKey(subject_id, self._tagger.tag(subject_id, controller_id), KeyState.ABSENT,
                                 self._backend.name, None, 0, controller_id=controller_id)
            certificate = await self._attempt(key, request_id, reason)
            if certificate is not None:
                return certificate
        raise errors.ShredContended(subject_id)

    async def _attempt(self, key: SubjectKey, request_id: str, reason: str) -> Certificate | None:
        """None when the row changed since it was read."""
        ref = key.subject_ref or ""
        if key.state is KeyState.ACTIVE:
            ref = await self._reference(key)
            if self._backend.destroys_in_vault:
                async with self._uow.autocommit() as store:
                    if not await store.mark_shredding(key, ref):
                        return None
                self._cache.purge(key.tag)
                key = replace(key, state=KeyState.SHREDDING, subject_ref=ref)
        destroyed = [] if key.state is KeyState.ABSENT else await self._backend.destroy(key)
        now = datetime.now(UTC)
        certificate = self._certificate(key, ref, destroyed, request_id, reason, now)
        async with self._uow() as uow:
            # The tombstone, and every event about the person (waiting or on the broker) no longer naming them.
            if not await uow.store.shred(key, request_id, now, certificate):
                return None
            uow.emit(ev.SubjectKeyShredded(request_id, certificate, key.controller_id))
            await uow.commit()
        self._cache.purge(key.tag)
        if key.state is KeyState.ABSENT and self._backend.destroys_in_vault:
            await self._sweep_orphan(key)
        return certificate

    async def _sweep_orphan(self, key: SubjectKey) -> None:
        """Once the tombstone is committed no key can be added; one created in Vault by a creation
        that lost the race (or died before its insert) is removed. The loser also removes its own."""
        try:
            await self._backend.destroy(key)
        except errors.KeyVaultError as exc:
            log.warning("orphan subject key left in Vault", error=str(exc))

    async def _reference(self, key: SubjectKey) -> str:
        try:
            return await self._subject_ref(key)
        except (errors.WrappedKeyUnusable, errors.SubjectErased):  # nothing left to point to: the key is gone already
            return ""

    def _certificate(self, key: SubjectKey, ref: str, destroyed: list[dict], request_id: str, reason: str,
                     now: datetime) -> Certificate:
        assert key.controller_id is not None  # a shred always acts in a named controller
        body = canonical_bytes(build_certificate(
            str(new_id()), ref, key.tag, self._backend.name, destroyed, now, request_id, reason, self._signer.key_id,
            key.controller_id))
        return Certificate(body, self._signer.sign(body), self._signer.key_id)
