"""Where subject keys live. Both backends give the same guarantees behind the same API:

- "wrapped": the subject key is random bytes wrapped by its controller's KEK in Vault transit; the
  wrapped form is stored in PostgreSQL, unwrapped into memory when needed, and data keys are sealed
  locally. Cheap per release (a cached key needs no Vault call); erasure from backups is bounded by
  KEK rotation, per controller.
- "transit-per-subject": one named transit key per subject; the key never leaves Vault, every
  release is a Vault call, and shredding deletes the key in Vault itself.

A handle is what a release needs: the plaintext subject key (wrapped) or the Vault key name."""

import asyncio
import hashlib
from collections.abc import Callable
from typing import Protocol

from services.keyvault.domain.errors import KekNotProvisioned, KeyVaultError, SubjectErased
from services.keyvault.domain.model import LEGACY_TRANSIT_NAME, SubjectKey
from services.keyvault.service import crypto


class Kek(Protocol):
    key_name: str

    async def wrap(self, keys: list[bytes]) -> list[str]: ...

    async def unwrap(self, wrapped: str) -> bytes: ...

    async def rewrap(self, wrapped: list[str]) -> list[str]: ...

    async def rotate(self) -> int: ...

    async def trim(self, keep_from: int) -> None: ...

    async def destroy(self) -> None:
        """Every version, for good (idempotent)."""

    async def exists(self) -> bool: ...

    def version_of(self, wrapped: str) -> int: ...


# Each controller's KEK (None: the default controller's), see services/keyvault/domain/kek.py.
Keks = Callable[[str | None], Kek]


class SubjectTransitKeys(Protocol):
    async def create(self, names: list[str]) -> None: ...

    async def encrypt(self, name: str, plaintext: bytes, context: bytes) -> str: ...

    async def decrypt(self, name: str, ciphertext: str, context: bytes, field: str) -> bytes: ...

    async def hmac(self, name: str, data: bytes) -> bytes: ...

    async def exists(self, name: str) -> bool: ...

    async def delete(self, name: str) -> bool:
        """False if there was no such key (deleting is idempotent)."""


class Backend(Protocol):
    name: str
    # Whether shredding has to destroy something inside Vault (and so may be interrupted halfway).
    destroys_in_vault: bool

    async def create(self, controller_id: str, tags: list[str]) -> list[tuple[str, int]]:
        """What to store per subject of the controller (named by its keyed tag): (wrapped_key column,
        KEK version)."""

    async def handle(self, key: SubjectKey) -> bytes | str: ...

    async def seal(self, handle, kind: str, subject_id: str, purpose_id: str, plaintext: bytes) -> bytes: ...

    async def open(self, handle, kind: str, subject_id: str, purpose_id: str, sealed: bytes, field: str) -> bytes: ...

    async def subject_ref(self, handle, subject_id: str) -> str: ...

    async def destroy(self, key: SubjectKey) -> list[dict]:
        """Destroys what Vault holds for the subject (if anything); describes what was destroyed."""

    async def controller_keys(self, controller_id: str, subject_keys: int) -> list[dict]:
        """Describes what offboarding the controller destroys in Vault (nothing: nothing to destroy)."""

    async def destroy_controller(self, controller_id: str, stored: list[str]) -> None:
        """Destroys it, given the wrapped_key column of the controller's keys not tombstoned yet
        (idempotent)."""


# Subject keys deleted side by side when a controller is offboarded (one Vault request each).
DELETE_BATCH = 16


class WrappedBackend:
    name = "wrapped"
    destroys_in_vault = False

    def __init__(self, keks: Keks) -> None:
        self.kek = keks

    async def create(self, controller_id: str, tags: list[str]) -> list[tuple[str, int]]:
        kek = self.kek(controller_id)
        wrapped = await kek.wrap([crypto.new_key() for _ in tags])
        return [(w, kek.version_of(w)) for w in wrapped]

    async def handle(self, key: SubjectKey) -> bytes:
        assert key.wrapped_key is not None
        return await self.kek(key.controller_id).unwrap(key.wrapped_key)

    async def seal(self, handle: bytes, kind: str, subject_id: str, purpose_id: str, plaintext: bytes) -> bytes:
        return crypto.seal(handle, kind, subject_id, purpose_id, plaintext)

    async def open(self, handle: bytes, kind: str, subject_id: str, purpose_id: str, sealed: bytes,
                   field: str) -> bytes:
        return crypto.open_sealed(handle, kind, subject_id, purpose_id, sealed, field)

    async def subject_ref(self, handle: bytes, subject_id: str) -> str:
        return crypto.subject_ref(handle, subject_id)

    async def destroy(self, key: SubjectKey) -> list[dict]:
        # Deleting the row's wrapped key is the destruction; backups are covered by KEK rotation.
        if key.wrapped_key is None:
            return []
        return [{"keyId": f"subject-key/{key.tag}",
                 "wrappedUnderKek": f"{self.kek(key.controller_id).key_name}:v{key.kek_version}"}]

    async def controller_keys(self, controller_id: str, subject_keys: int) -> list[dict]:
        # Every version of the KEK: the wrapped keys in the database and in every backup with them. A
        # KEK never provisioned for the service never wrapped anything.
        kek = self.kek(controller_id)
        try:
            held = await kek.exists()
        except KekNotProvisioned:
            held = False
        return [{"keyId": f"vault-transit/{kek.key_name}", "allVersions": True, "deletedInVault": True,
                 "subjectKeysWrapped": subject_keys}] if held else []

    async def destroy_controller(self, controller_id: str, stored: list[str]) -> None:
        await self.kek(controller_id).destroy()


class TransitPerSubjectBackend:
    name = "transit-per-subject"
    destroys_in_vault = True
    PREFIX = "subject-"

    def __init__(self, keys: SubjectTransitKeys) -> None:
        self._keys = keys

    @classmethod
    def name_of(cls, key: SubjectKey) -> str:
        if key.wrapped_key == LEGACY_TRANSIT_NAME:  # named before keyed rows, by a hash of the id
            return cls.PREFIX + hashlib.sha256(key.subject_id.encode()).hexdigest()[:32]
        return cls.PREFIX + key.tag

    @staticmethod
    def _context(kind: str, subject_id: str, purpose_id: str) -> bytes:
        # Derived keys: the context binds each ciphertext to subject, purpose and use, like AES-GCM's AAD.
        return f"consentry/{kind}/v1\x1f{subject_id}\x1f{purpose_id}".encode()

    async def create(self, controller_id: str, tags: list[str]) -> list[tuple[str, int]]:
        names = [self.PREFIX + tag for tag in tags]  # the tag is the controller's already
        await self._keys.create(names)
        return [(name, 1) for name in names]

    async def handle(self, key: SubjectKey) -> str:
        assert key.wrapped_key is not None
        return self.name_of(key)

    async def seal(self, handle: str, kind: str, subject_id: str, purpose_id: str, plaintext: bytes) -> bytes:
        try:
            return (await self._keys.encrypt(handle, plaintext, self._context(kind, subject_id, purpose_id))).encode()
        except KeyVaultError:
            await self._erased_meanwhile(handle, subject_id)
            raise

    async def open(self, handle: str, kind: str, subject_id: str, purpose_id: str, sealed: bytes,
                   field: str) -> bytes:
        try:
            return await self._keys.decrypt(handle, sealed.decode(errors="replace"),
                                            self._context(kind, subject_id, purpose_id), field)
        except KeyVaultError:
            await self._erased_meanwhile(handle, subject_id)
            raise

    async def _erased_meanwhile(self, handle: str, subject_id: str) -> None:
        """A replica may still hold a shredded subject's key name for the moment the purge takes to
        reach it: Vault's refusal then means the person was erased, not that the caller erred."""
        if not await self._keys.exists(handle):
            raise SubjectErased(subject_id) from None

    async def subject_ref(self, handle: str, subject_id: str) -> str:
        try:
            return (await self._keys.hmac(handle, subject_id.encode())).hex()
        except KeyVaultError:
            await self._erased_meanwhile(handle, subject_id)
            raise

    async def destroy(self, key: SubjectKey) -> list[dict]:
        # By name, even without a row: a key whose creation lost a race with a shred goes as well.
        if not await self._keys.delete(self.name_of(key)):
            return []
        # Named by tag even for a legacy key: its Vault name would give the id away.
        return [{"keyId": f"vault-transit/{self.PREFIX}{key.tag}", "deletedInVault": True}]

    async def controller_keys(self, controller_id: str, subject_keys: int) -> list[dict]:
        return [{"keyId": f"vault-transit/{self.PREFIX}*", "subjectKeys": subject_keys,
                 "deletedInVault": True}] if subject_keys else []

    async def destroy_controller(self, controller_id: str, stored: list[str]) -> None:
        # Only the default controller has keys named before tags (LEGACY_TRANSIT_NAME), and it stays.
        for start in range(0, len(stored), DELETE_BATCH):
            await asyncio.gather(*(self._keys.delete(name) for name in stored[start:start + DELETE_BATCH]))


