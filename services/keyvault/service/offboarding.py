"""Offboarding a controller: every key of its subjects destroyed at once, with one signed certificate.

Destroying the controller's KEK (transit-per-subject: each of its subject keys) in Vault is what
makes every copy of a wrapped key useless, backups included. The offboarding is recorded first, with
its certificate, and every key of the controller marked SHREDDING in the same transaction: unusable
from that commit, and no key stored for the controller after it (creations share-lock the same row).
Vault's part comes next, then the tombstones and the event; a repeat finishes whatever an interrupted
one left and answers with the same certificate, which is only handed out once Vault's part is done."""

import json
from datetime import UTC, datetime

from services.common.auth import ControllerNotFound
from services.common.erasure import SubjectTagger
from services.common.ids import new_id
from services.common.signing import Ed25519Signer
from services.keyvault.domain import errors
from services.keyvault.domain import events as ev
from services.keyvault.domain.certificate import build_offboarding_certificate, canonical_bytes
from services.keyvault.domain.model import Certificate
from services.keyvault.service.backends import Backend
from services.keyvault.service.key_cache import SubjectKeyCache
from services.keyvault.service.ports import ConsentGate, KeyUnits


class Offboarding:
    def __init__(self, uow: KeyUnits, backend: Backend, cache: SubjectKeyCache, signer: Ed25519Signer,
                 tagger: SubjectTagger, consent: ConsentGate) -> None:
        self._uow, self._backend, self._cache, self._signer, self._tagger = uow, backend, cache, signer, tagger
        self._consent = consent

    async def offboard(self, controller_id: str, reason: str) -> tuple[Certificate, int]:
        """(the certificate, how many subject keys it destroyed)."""
        if controller_id == self._tagger.default_controller:
            raise errors.DefaultControllerStays(controller_id)
        async with self._uow.autocommit() as store:
            first = await store.offboarding(controller_id) is None
        if first and not await self._consent.registered(controller_id):
            raise ControllerNotFound(controller_id)  # in the words every service uses for one
        tags: list[str] = []
        async with self._uow() as uow:
            certificate = await uow.store.offboarding(controller_id, for_update=True)
            if certificate is None:
                live = await uow.store.live_keys(controller_id)
                destroyed = await self._backend.controller_keys(controller_id, len(live))
                certificate = self._certificate(controller_id, destroyed, len(live), reason)
                tags = [tag for tag, _ in live]
                await uow.store.offboard(controller_id, datetime.now(UTC), certificate, tags)
            await uow.commit()
        for tag in tags:  # here at once; other replicas when the rows' notifications reach them
            self._cache.purge(tag)
        body = json.loads(certificate.certificate_json)
        if body["keysDestroyed"]:  # what the certificate says is destroyed, no more and no less
            async with self._uow.autocommit() as store:
                pending = await store.live_keys(controller_id)
            await self._backend.destroy_controller(controller_id, [stored for _, stored in pending])
        async with self._uow() as uow:  # published once, when done: not while Vault's part may yet fail
            if await uow.store.complete_offboarding(controller_id, certificate):
                uow.emit(ev.ControllerOffboarded(certificate, body["subjectKeysDestroyed"], controller_id))
            await uow.commit()
        return certificate, body["subjectKeysDestroyed"]

    def _certificate(self, controller_id: str, destroyed: list[dict], subject_keys: int, reason: str) -> Certificate:
        body = canonical_bytes(build_offboarding_certificate(
            str(new_id()), controller_id, self._backend.name, destroyed, subject_keys, datetime.now(UTC), reason,
            self._signer.key_id))
        return Certificate(body, self._signer.sign(body), self._signer.key_id)
