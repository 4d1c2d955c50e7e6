"""The key-encryption key in Vault/OpenBao transit: subject keys are wrapped and unwrapped there, so
the KEK itself never leaves Vault. hvac is synchronous; calls run in worker threads, each with its
own client."""

import asyncio
import base64
import json
from collections.abc import Callable
from functools import partial

import hvac
import requests

from services.common.batching import MicroBatcher
from services.common.vault_auth import VaultLoginFailed, VaultSession
from services.keyvault.domain.errors import (
    KekNotProvisioned, VaultRefused, VaultUnavailable, WrappedKeyUnusable, WrongKeyMaterial,
)
from services.keyvault.domain.kek import kek_name


# OpenBao limits the number of strings in one JSON request body; 250 items stay well inside it.
VAULT_BATCH = 250
# Concurrent key-creation requests for the transit-per-subject backend (one key per request).
CREATE_LANES = 8


def _token_refused() -> Exception:
    return VaultUnavailable("Vault refused the service's token")


class _Transit:
    """hvac in worker threads, with Vault's failures turned into domain errors."""

    def __init__(self, vault: VaultSession, mount: str = "transit", timeout_s: float = 5.0,
                 forbidden: Callable[[], Exception] = _token_refused) -> None:
        self._vault, self._timeout, self._mount = vault, timeout_s, mount
        self._forbidden = forbidden  # what Vault's 403 means for this key

    def _client(self) -> hvac.Client:
        return self._vault.client(self._timeout)

    async def _call(self, fn, *args, refused: Callable[[str], Exception] = VaultRefused):
        """`refused` says what Vault's refusal of this particular request means to the caller."""
        try:
            return await asyncio.to_thread(fn, *args)
        except requests.exceptions.RequestException:
            raise VaultUnavailable("Vault unreachable") from None
        except VaultLoginFailed as exc:  # before any call: never what the call's own refusal means
            raise VaultUnavailable(f"Vault login failed: {exc}") from None
        except hvac.exceptions.VaultDown:
            raise VaultUnavailable("Vault sealed") from None
        except hvac.exceptions.Forbidden:
            self._vault.refused()
            raise self._forbidden() from None
        except hvac.exceptions.InvalidRequest as exc:
            raise refused(_vault_message(exc)) from None
        except hvac.exceptions.InternalServerError as exc:
            raise VaultUnavailable(f"Vault error: {_vault_message(exc)}") from None


def _vault_message(exc: Exception) -> str:
    message = str(exc).splitlines()[0].split(", on ")[0]
    try:  # a refused batch comes back as the whole response body: name its first item's error
        results = json.loads(message)["data"]["batch_results"]
        message = next(r["error"] for r in results if r.get("error"))
    except (ValueError, KeyError, TypeError, StopIteration):
        pass
    return message[:200]


def _batch_results(data: dict, field: str) -> list[str]:
    results = data["data"]["batch_results"]
    failed = next((r["error"] for r in results if r.get("error")), None)
    if failed is not None:  # reported like a refusal of the whole request
        raise hvac.exceptions.InvalidRequest(failed)
    return [r[field] for r in results]


class TransitKek(_Transit):
    """One key-encryption key of the wrapped backend (one per controller, see ControllerKeks)."""

    def __init__(self, vault: VaultSession, key_name: str, mount: str = "transit", timeout_s: float = 5.0,
                 forbidden: Callable[[], Exception] = _token_refused) -> None:
        super().__init__(vault, mount, timeout_s, forbidden)
        self.key_name = key_name
        self._unwraps = MicroBatcher(self._unwrap_batch, VAULT_BATCH)

    async def wrap(self, keys: list[bytes]) -> list[str]:
        """Wraps many subject keys, VAULT_BATCH per request (OpenBao refuses larger JSON bodies)."""
        wrapped: list[str] = []
        for start in range(0, len(keys), VAULT_BATCH):
            wrapped += await self._wrap(keys[start:start + VAULT_BATCH])
        return wrapped

    async def _wrap(self, keys: list[bytes]) -> list[str]:
        def call() -> list[str]:
            batch = [{"plaintext": base64.b64encode(k).decode()} for k in keys]
            return _batch_results(self._client().secrets.transit.encrypt_data(
                self.key_name, plaintext="", batch_input=batch, mount_point=self._mount), "ciphertext")
        return await self._call(call)

    async def unwrap(self, wrapped: str) -> bytes:
        """Concurrent unwraps share one Vault batch request."""
        return await self._unwraps.submit(wrapped)

    async def _unwrap_batch(self, wrapped: list[str]) -> list[bytes | Exception]:
        def call() -> list[bytes]:
            batch = [{"ciphertext": w} for w in wrapped]
            return [base64.b64decode(p) for p in _batch_results(self._client().secrets.transit.decrypt_data(
                self.key_name, ciphertext="", batch_input=batch, mount_point=self._mount), "plaintext")]
        try:
            return await self._call(call, refused=WrappedKeyUnusable)
        except WrappedKeyUnusable:
            if len(wrapped) == 1:
                raise
        # Vault fails the whole batch for one unusable key: retry one by one so only that one fails (rare).
        singles = await asyncio.gather(*(self._unwrap_batch([w]) for w in wrapped), return_exceptions=True)
        return [r[0] if isinstance(r, list) else r for r in singles]

    @staticmethod
    def version_of(wrapped: str) -> int:
        return int(wrapped.split(":")[1].removeprefix("v"))

    async def rotate(self) -> int:
        """A new KEK version for new wraps; returns it."""
        def call() -> int:
            transit = self._client().secrets.transit
            transit.rotate_key(self.key_name, mount_point=self._mount)
            return transit.read_key(self.key_name, mount_point=self._mount)["data"]["latest_version"]
        return await self._call(call)

    async def rewrap(self, wrapped: list[str]) -> list[str]:
        """Re-encrypts wrapped keys under the latest KEK version inside Vault (no plaintext leaves it)."""
        fresh: list[str] = []
        for start in range(0, len(wrapped), VAULT_BATCH):
            fresh += await self._rewrap(wrapped[start:start + VAULT_BATCH])
        return fresh

    async def _rewrap(self, wrapped: list[str]) -> list[str]:
        def call() -> list[str]:
            return _batch_results(self._client().secrets.transit.rewrap_data(
                self.key_name, ciphertext="", batch_input=[{"ciphertext": w} for w in wrapped],
                mount_point=self._mount), "ciphertext")
        return await self._call(call)

    async def trim(self, keep_from: int) -> None:
        """Destroys every KEK version below `keep_from`."""
        def call() -> None:
            client = self._client()
            # Trimming needs both minimums set; hvac's own check refuses them equal, Vault accepts it.
            client.adapter.post(f"/v1/{self._mount}/keys/{self.key_name}/config",
                                json={"min_decryption_version": keep_from, "min_encryption_version": keep_from})
            client.secrets.transit.trim_key(self.key_name, min_version=keep_from, mount_point=self._mount)
        await self._call(call)


    async def destroy(self) -> None:
        """Every version of the KEK, for good; nothing when it is gone already."""
        await self._call(lambda: _delete(self._client().secrets.transit, self.key_name, self._mount))


    async def exists(self) -> bool:
        return await self._call(lambda: _exists(self._client().secrets.transit, self.key_name, self._mount))


def _delete(transit, name: str, mount: str) -> bool:
    """Deletes a transit key, every version; False if there was none (deleting is idempotent)."""
    try:
        transit.update_key_configuration(name, deletion_allowed=True, mount_point=mount)
    except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath):
        if not _exists(transit, name, mount):
            return False
        raise
    transit.delete_key(name, mount_point=mount)
    return True


def _exists(transit, name: str, mount: str) -> bool:
    try:
        transit.read_key(name, mount_point=mount)
    except hvac.exceptions.InvalidPath:
        return False
    return True


class ControllerKeks:
    """Each controller's KEK, made on first use. Only the default controller's KEK existed before
    controllers: the service's token is refused another's until an operator provisions it, and that
    refusal names the controller (KekNotProvisioned), not a broken token."""

    def __init__(self, vault: VaultSession, base_name: str, default_controller: str, mount: str = "transit") -> None:
        self._vault, self._base, self._mount = vault, base_name, mount
        self._default = default_controller
        self._keks: dict[str, TransitKek] = {}

    def __call__(self, controller_id: str | None) -> TransitKek:
        name = kek_name(self._base, controller_id, self._default)
        kek = self._keks.get(name)
        if kek is None:
            forbidden = _token_refused if name == self._base else partial(KekNotProvisioned, controller_id)
            kek = self._keks[name] = TransitKek(self._vault, name, self._mount, forbidden=forbidden)
        return kek


class TransitSubjectKeys(_Transit):
    """One derived transit key per subject (the transit-per-subject backend). The service's policy
    lets it create keys explicitly but not through encrypt, so a deleted key is never revived."""

    async def create(self, names: list[str]) -> None:
        """Vault creates one named key per request: several requests run side by side."""
        def call(chunk: list[str]) -> None:
            transit = self._client().secrets.transit
            for name in chunk:
                transit.create_key(name, key_type="aes256-gcm96", derived=True, mount_point=self._mount)
        lanes = min(CREATE_LANES, len(names)) or 1
        await asyncio.gather(*(self._call(call, names[lane::lanes]) for lane in range(lanes)))

    async def encrypt(self, name: str, plaintext: bytes, context: bytes) -> str:
        def call() -> str:
            return self._client().secrets.transit.encrypt_data(
                name, plaintext=base64.b64encode(plaintext).decode(), context=base64.b64encode(context).decode(),
                mount_point=self._mount)["data"]["ciphertext"]
        return await self._call(call)

    async def decrypt(self, name: str, ciphertext: str, context: bytes, field: str) -> bytes:
        def call() -> bytes:
            data = self._client().secrets.transit.decrypt_data(
                name, ciphertext, context=base64.b64encode(context).decode(), mount_point=self._mount)
            return base64.b64decode(data["data"]["plaintext"])
        # Vault's refusal here means the ciphertext was not made under this key and context.
        return await self._call(call, refused=lambda _: WrongKeyMaterial(field))

    async def hmac(self, name: str, data: bytes) -> bytes:
        def call() -> bytes:
            value = self._client().secrets.transit.generate_hmac(
                name, hash_input=base64.b64encode(data).decode(), algorithm="sha2-256",
                mount_point=self._mount)["data"]["hmac"]
            return base64.b64decode(value.split(":", 2)[2])
        return await self._call(call)

    async def delete(self, name: str) -> bool:
        """Idempotent: False when there was no such key (an earlier shred got this far already)."""
        return await self._call(lambda: _delete(self._client().secrets.transit, name, self._mount))

    async def exists(self, name: str) -> bool:
        return await self._call(self._exists, name)

    def _exists(self, name: str) -> bool:
        return _exists(self._client().secrets.transit, name, self._mount)
