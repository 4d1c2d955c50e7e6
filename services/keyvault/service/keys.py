"""Keyvault use cases: subject keys behind the consent gate, and crypto-shredding.

Every use case about a subject acts in one controller (`controller_id`, as the api layer resolved
it): the same person at two controllers is two subjects, with two keys under two tags, two sets of
generations, and two consent checks, each against the controller's own purposes."""

import asyncio
import json

from services.common.auth import ControllerNotFound
from services.common.erasure import SubjectTagger
from services.common.idempotency import Idempotent, Replayed
from services.common.signing import Ed25519Signer, verify_signature
from services.keyvault.domain import errors
from services.keyvault.domain import events as ev
from services.keyvault.domain.certificate import names_subject
from services.keyvault.domain.model import (
    Certificate, ConsentAnswer, KeyState, Operation, Release, ReportedReuse, SubjectKey,
)
from services.keyvault.service import crypto
from services.keyvault.service.backends import Backend, WrappedBackend
from services.keyvault.service.generations import PurposeGenerations
from services.keyvault.service.key_cache import SubjectKeyCache
from services.keyvault.service.ports import ConsentGate, KeyUnits
from services.keyvault.service.offboarding import Offboarding
from services.keyvault.service.release_log import ReleaseLog
from services.keyvault.service.shredding import Shredder
from services.keyvault.service.watch import KeyRefs

# What the backend seals around a data key's generation layer; "data-key" is the older single layer,
# so a key of one kind never opens as the other.
GENERATION_KEY = "generation-data-key"


class KeyService:
    def __init__(self, uow: KeyUnits, generations: PurposeGenerations, backend: Backend, consent: ConsentGate,
                 cache: SubjectKeyCache, signer: Ed25519Signer, tagger: SubjectTagger) -> None:
        self._uow, self._backend, self._consent, self.cache, self._tagger = uow, backend, consent, cache, tagger
        self._releases = ReleaseLog(uow)
        self.key_refs = KeyRefs(tagger)
        self._shredder = Shredder(uow, backend, cache, signer, self._reference, tagger)
        self._offboarding = Offboarding(uow, backend, cache, signer, tagger, consent)
        self.generations = generations
        self._certificate_key = signer.public_key_pem
        self._refills: dict[str, asyncio.Future[bytes | str]] = {}

    # Releases: consent first, then the key, then the audit record, then the answer.

    async def require_registered(self, controller_id: str) -> None:
        """ControllerNotFound for a controller consent never registered: an operator's typo must not
        be answered as a controller with nothing to say."""
        if not await self._consent.registered(controller_id):
            raise ControllerNotFound(controller_id)

    async def generate_data_key(self, controller_id: str, subject_id: str, purpose_id: str,
                                client_id: str) -> tuple[bytes, bytes]:
        """Sealed under the generation of the current consent term, then wrapped by the subject key:
        every backend can do the outer layer, and destroying the generation's secret alone undoes it."""
        answer = await self._allowed(controller_id, subject_id, purpose_id)
        handle = await self._subject_key(controller_id, subject_id, create=True)  # first: an erased person gets no generation
        tag, generation = await self.generations.for_issue(controller_id, subject_id, purpose_id, answer)
        assert generation.secret is not None
        data_key = crypto.new_key()
        inner = crypto.seal_generation(generation.secret, tag, purpose_id, generation.number, data_key)
        outer = await self._backend.seal(handle, GENERATION_KEY, subject_id, purpose_id, inner)
        await self._released(controller_id, subject_id, purpose_id, Operation.GENERATE_DATA_KEY, client_id, answer)
        return data_key, crypto.framed(generation.number, outer)

    async def decrypt_data_key(self, controller_id: str, subject_id: str, purpose_id: str, wrapped: bytes,
                               client_id: str) -> Release:
        answer = await self._allowed(controller_id, subject_id, purpose_id)
        number, outer = crypto.unframed(wrapped, "wrapped_key")
        handle = await self._subject_key(controller_id, subject_id, create=False)  # first: an erased person has no generations
        try:
            tag, generation = await self.generations.for_open(controller_id, subject_id, purpose_id, answer, number)
        except errors.WrongKeyMaterial:
            # A shred forgets the generations right after the key: a replica whose cache has not heard of
            # the shred yet finds no generation, and the person is erased, not the key altered.
            async with self._uow.autocommit() as store:
                key = await store.get(controller_id, subject_id)
            if key is None or key.state.erased:
                raise errors.SubjectErased(subject_id) from None
            raise
        if generation is None:  # wrapped before generations, under a consent that never ended
            data_key = await self._backend.open(handle, "data-key", subject_id, purpose_id, outer, "wrapped_key")
        else:
            assert generation.secret is not None
            inner = await self._backend.open(handle, GENERATION_KEY, subject_id, purpose_id, outer, "wrapped_key")
            data_key = crypto.open_generation(generation.secret, tag, purpose_id, generation.number, inner,
                                              "wrapped_key")
        await self._released(controller_id, subject_id, purpose_id, Operation.DECRYPT_DATA_KEY, client_id, answer)
        key_ref = self.key_refs.of_tag(self._tagger.tag(subject_id, controller_id))
        return Release(data_key, key_ref, answer.consent_id, answer.lapses, answer.expires_at)

    async def record_reuse(self, controller_id: str, client_id: str, reuses: list[ReportedReuse],
                           idem: Idempotent[list[tuple[ReportedReuse, str]]]
                           ) -> list[tuple[ReportedReuse, str]] | Replayed:
        """A face system's account of keys it used again from memory, before it may answer those uses
        (invariant 4 at the edge). Each is checked as a release would be: the subject's key live
        (share-locked, so a shred waits and then scrubs these events too) and consent ALLOW under the
        term the key was released under; the others are refused (with why) and recorded nowhere."""
        answers = await asyncio.gather(*(self._consent.check(controller_id, r.subject_id, r.purpose_id)
                                         for r in reuses))
        if any(a.reason == "UNAVAILABLE" for a in answers):
            raise errors.ConsentUnreachable()
        async with self._uow() as uow:
            async def record() -> list[tuple[ReportedReuse, str]]:
                live = await uow.store.live_subjects(controller_id, list({r.subject_id for r in reuses}))
                refused = []
                for r, answer in zip(reuses, answers, strict=True):
                    why = r.refusal(answer) if r.subject_id in live else "SUBJECT_ERASED"
                    if why is not None:
                        refused.append((r, why))
                        continue
                    uow.emit(ev.KeyReleased(r.subject_id, r.purpose_id, Operation.REUSE_DATA_KEY, client_id,
                                            r.consent_id, controller_id, r.count))
                return refused
            done = await uow.once(idem, record)
            await uow.commit()
        return done

    async def retire_purpose_keys(self, controller_id: str, subject_id: str, purpose_id: str) -> int:
        """Destroys the purpose's current generation if consent confirms its consent ended; the
        generation retired, or 0. A forged or early call destroys nothing."""
        answer = await self._consent.check(controller_id, subject_id, purpose_id)
        if answer.reason == "UNAVAILABLE":
            raise errors.ConsentUnreachable()
        return await self.generations.retire_ended(controller_id, subject_id, purpose_id, answer)

    async def retire_purpose_keys_once(self, controller_id: str, subject_id: str, purpose_id: str,
                                       idem: Idempotent[int]) -> int | Replayed:
        return await self._uow.remembered(idem, lambda: self.retire_purpose_keys(controller_id, subject_id,
                                                                                 purpose_id))

    async def encrypt(self, controller_id: str, subject_id: str, purpose_id: str, plaintext: bytes,
                      client_id: str) -> bytes:
        answer = await self._allowed(controller_id, subject_id, purpose_id)
        handle = await self._subject_key(controller_id, subject_id, create=True)
        sealed = await self._backend.seal(handle, "payload", subject_id, purpose_id, plaintext)
        await self._released(controller_id, subject_id, purpose_id, Operation.ENCRYPT, client_id, answer)
        return sealed

    async def decrypt(self, controller_id: str, subject_id: str, purpose_id: str, sealed: bytes,
                      client_id: str) -> bytes:
        answer = await self._allowed(controller_id, subject_id, purpose_id)
        handle = await self._subject_key(controller_id, subject_id, create=False)
        plaintext = await self._backend.open(handle, "payload", subject_id, purpose_id, sealed, "ciphertext")
        await self._released(controller_id, subject_id, purpose_id, Operation.DECRYPT, client_id, answer)
        return plaintext

    async def _allowed(self, controller_id: str, subject_id: str, purpose_id: str) -> ConsentAnswer:
        """Every key this service releases serves data stored off the device: only a SERVER purpose
        may have one (Measures Art. 8), and nothing, not even the subject key, is made before. The
        check names the controller: the purpose must be its own, whoever else granted one."""
        answer = await self._consent.check(controller_id, subject_id, purpose_id)
        if answer.allowed and not answer.server_storage:
            raise errors.DeviceStorageOnly(purpose_id, answer.storage_location)
        if answer.allowed:
            return answer
        if answer.reason == "SUBJECT_ERASED":  # the same answer a shredded key gives: the person is gone
            raise errors.SubjectErased(subject_id)
        if answer.reason == "UNAVAILABLE":  # consent could not look: retry later, nothing released
            raise errors.ConsentUnreachable()
        if answer.ended:  # the purpose's keys die with the consent, whoever notices first
            await self.generations.retire_quietly(controller_id, subject_id, purpose_id, answer)
        raise errors.ConsentDenied(answer.reason)

    async def _released(self, controller_id: str, subject_id: str, purpose_id: str, operation: Operation,
                        client_id: str, answer: ConsentAnswer) -> None:
        await self._releases.record(ev.KeyReleased(subject_id, purpose_id, operation, client_id, answer.consent_id,
                                                   controller_id))

    # Subject keys

    async def ensure(self, controller_id: str, subject_ids: list[str]) -> dict[str, SubjectKey]:
        """Creates the keys (of the controller's subjects) that do not exist yet, wrapping them in one
        Vault batch."""
        async with self._uow.autocommit() as store:
            existing = await store.get_many(controller_id, subject_ids)
        missing = [s for s in dict.fromkeys(subject_ids) if s not in existing]
        if missing:
            await self._create(controller_id, missing)
            async with self._uow.autocommit() as store:
                existing = await store.get_many(controller_id, subject_ids)
        return existing

    async def _create(self, controller_id: str, subject_ids: list[str]) -> None:
        while subject_ids:  # again only if a rotation trimmed the KEK version they were wrapped under
            subject_ids = await self._create_once(controller_id, subject_ids)

    async def _create_once(self, controller_id: str, subject_ids: list[str]) -> list[str]:
        """Returns the subjects whose new keys came out wrapped below the KEK floor: not stored."""
        tags = [self._tagger.tag(s, controller_id) for s in subject_ids]
        try:
            stored = await self._backend.create(controller_id, tags)  # transit-per-subject names each key by the tag
        except errors.KeyVaultError:  # an offboarded controller's KEK is gone: say that, not Vault's refusal
            async with self._uow.autocommit() as store:
                if await store.offboarding(controller_id) is not None:
                    raise errors.ControllerOffboarded(controller_id) from None
            raise
        name = self._backend.name
        keys = [SubjectKey(s, t, KeyState.ACTIVE, name, w, v, controller_id=controller_id)
                for s, t, (w, v) in zip(subject_ids, tags, stored, strict=True)]
        try:
            async with self._uow() as uow:
                # Share-locked: a trim or an offboarding waits until these rows are committed.
                floor = await uow.store.kek_floor(controller_id)
                usable = [k for k in keys if k.kek_version >= floor]
                added = await uow.store.add_many(usable)  # a tombstone or a concurrent creator wins
                for k in usable:
                    if k.subject_id in added:
                        uow.emit(ev.SubjectKeyCreated(k.subject_id, name, controller_id))
                await uow.commit()
        except errors.ControllerOffboarded:  # offboarded meanwhile: what Vault made goes too
            if self._backend.destroys_in_vault:
                await self._backend.destroy_controller(controller_id, [w for w, _ in stored])
            raise
        if self._backend.destroys_in_vault and len(added) < len(usable):
            await self._discard_lost_to_shreds(controller_id, [k.subject_id for k in usable if k.subject_id not in added])
        return [k.subject_id for k in keys if k.kek_version < floor]

    async def _discard_lost_to_shreds(self, controller_id: str, subject_ids: list[str]) -> None:
        """A key created in Vault for a subject shredded meanwhile must not outlive the tombstone."""
        async with self._uow.autocommit() as store:
            rows = await store.get_many(controller_id, subject_ids)
        for key in rows.values():
            if key.state is KeyState.SHREDDED:
                await self._backend.destroy(key)

    async def _subject_key(self, controller_id: str, subject_id: str, *, create: bool) -> bytes | str:
        """The backend's handle to a live subject key (cached by tag, so per controller; purged
        everywhere on shred)."""
        cached = self.cache.get(self._tagger.tag(subject_id, controller_id))
        if cached is not None:
            return cached
        epoch = self.cache.epoch
        async with self._uow.autocommit() as store:
            key = await store.get(controller_id, subject_id)
        if key is None and create:
            key = (await self.ensure(controller_id, [subject_id]))[subject_id]
        if key is None:
            raise errors.NoSubjectKey(subject_id)
        if key.state.erased:
            raise errors.SubjectErased(subject_id)
        return await self._handle(key, epoch)

    async def _handle(self, key: SubjectKey, epoch: int | None = None) -> bytes | str:
        """Concurrent misses for one subject share a single unwrap, so an expiry is not a stampede."""
        cached = self.cache.get(key.tag)
        if cached is not None:
            return cached
        epoch = self.cache.epoch if epoch is None else epoch
        refill = self._refills.get(key.tag)
        if refill is None:
            refill = self._refills[key.tag] = asyncio.ensure_future(self._backend.handle(key))
            refill.add_done_callback(lambda _: self._refills.pop(key.tag, None))
        handle = await asyncio.shield(refill)
        self.cache.put(epoch, key.tag, handle)
        return handle

    async def _reference(self, key: SubjectKey) -> str:
        return await self._backend.subject_ref(await self._handle(key), key.subject_id)

    async def status(self, controller_id: str, subject_id: str) -> SubjectKey | None:
        async with self._uow.autocommit() as store:
            return await store.get(controller_id, subject_id)

    async def subject_refs(self, controller_id: str, subject_ids: list[str], create_missing: bool = False
                           ) -> list[tuple[str, str, KeyState]]:
        """Computed side by side, so the keys not cached are unwrapped in shared Vault batches. Each
        is derived from the subject's key at the controller: the same person's refs at two
        controllers are unrelated."""
        if create_missing:
            try:
                keys = await self.ensure(controller_id, subject_ids)
            except errors.ControllerOffboarded:  # every subject of it is erased, with or without a key
                return [(s, "", KeyState.SHREDDED) for s in subject_ids]
        else:
            async with self._uow.autocommit() as store:
                keys = await store.get_many(controller_id, subject_ids)

        async def one(subject_id: str) -> tuple[str, str, KeyState]:
            key = keys.get(subject_id)
            if key is None:
                return subject_id, "", KeyState.ABSENT
            if key.state.erased:
                return subject_id, "", KeyState.SHREDDED
            try:
                return subject_id, await self._reference(key), KeyState.ACTIVE
            except errors.SubjectErased:  # shredded (or its controller offboarded) since the row was read
                return subject_id, "", KeyState.SHREDDED
        return list(await asyncio.gather(*(one(s) for s in subject_ids)))

    async def shred(self, controller_id: str, subject_id: str, request_id: str, reason: str) -> Certificate:
        """After the subject key, the subject's key generations (useless without it) go as well; a retry
        of a shred that stopped between the two repeats the second. The same person at another
        controller keeps their key and generations."""
        certificate = await self._shredder.shred(controller_id, subject_id, request_id, reason)
        await self.generations.forget(controller_id, subject_id)
        return certificate

    async def shred_once(self, controller_id: str, subject_id: str, request_id: str, reason: str,
                         idem: Idempotent[Certificate]) -> Certificate | Replayed:
        """The idempotency key is bound to this subject: reused for another, it shreds nothing."""
        return await self._uow.remembered(idem, lambda: self.shred(controller_id, subject_id, request_id, reason))

    def verify_certificate(self, controller_id: str, subject_id: str, certificate_json: bytes,
                           signature: bytes) -> tuple[bool, bool]:
        """(signed by this keyvault, names this subject of this controller): only keyvault can compute
        the tag it names."""
        try:
            body = json.loads(certificate_json)
        except (ValueError, RecursionError):  # not JSON (or nested past the parser): names nobody
            body = None
        tag = self._tagger.tag(subject_id, controller_id)
        # The tag from before controllers (no controller): equal to this one only at the default controller.
        before_controllers = tag == self._tagger.tag(subject_id)
        named = isinstance(body, dict) and names_subject(body, subject_id, tag, controller_id, before_controllers)
        return verify_signature(self._certificate_key, certificate_json, signature), named

    async def offboard_once(self, controller_id: str, reason: str, idem: Idempotent[tuple[Certificate, int]]
                            ) -> tuple[Certificate, int] | Replayed:
        """Every key of the controller's subjects destroyed at once (service/offboarding.py)."""
        return await self._uow.remembered(idem, lambda: self._offboarding.offboard(controller_id, reason))

    # KEK rotation, per controller: its own KEK, its own keys, its own floor

    async def rotate_kek_once(self, controller_id: str, trim: bool, idem: Idempotent[tuple[int, int, int]]
                              ) -> tuple[int, int, int] | Replayed:
        """A retry with the same idempotency key gets the first rotation's result."""
        return await self._uow.remembered(idem, lambda: self.rotate_kek(controller_id, trim))

    async def kek_status(self, controller_id: str) -> list[tuple[int, int]]:
        """(KEK version, live keys under it) of the controller's keys: what a rotation has left to do."""
        async with self._uow.autocommit() as store:
            return await store.live_keys_by_kek_version(controller_id)

    async def _wrapped_below(self, controller_id: str, version: int, limit: int) -> list[tuple[str, str]]:
        async with self._uow.autocommit() as store:
            return await store.wrapped_below(controller_id, version, limit)

    async def rotate_kek(self, controller_id: str, trim: bool, batch_size: int = 500) -> tuple[int, int, int]:
        """Rotates the controller's KEK and re-wraps the controller's keys; every other controller's
        KEK and keys stay as they are. Returns (new version, keys re-wrapped, lowest version still in
        Vault)."""
        if not isinstance(self._backend, WrappedBackend):
            raise errors.NoKek(self._backend.name)
        async with self._uow.autocommit() as store:
            if await store.offboarding(controller_id) is not None:
                raise errors.ControllerOffboarded(controller_id)
        kek = self._backend.kek(controller_id)
        version = await kek.rotate()
        rewrapped = 0
        while True:
            while batch := await self._wrapped_below(controller_id, version, batch_size):
                fresh = await kek.rewrap([w for _, w in batch])
                async with self._uow.autocommit() as store:
                    rewrapped += await store.replace_wrapped(
                        [(t, old, new, kek.version_of(new)) for (t, old), new in zip(batch, fresh, strict=True)])
            if not trim:
                break
            # A creation may have wrapped under an older version and stored its row after the sweep:
            # the floor is raised only when no live key is left below it, and from then on none is stored.
            async with self._uow.autocommit() as store:  # the floor is raised in a transaction of its own
                if await store.raise_kek_floor(controller_id, version):
                    break
        if trim:  # only after every live key moved: older versions would strand nothing
            await kek.trim(version)
        min_available = version if trim else 1
        async with self._uow() as uow:
            uow.emit(ev.KekRotated(kek.key_name, version, rewrapped, min_available, controller_id))
            await uow.commit()
        return version, rewrapped, min_available
