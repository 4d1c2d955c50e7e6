"""The key-encryption key in Vault/OpenBao transit: subject keys are wrapped and unwrapped there, so
the KEK itself never leaves Vault. hvac is synchronous; calls run in worker threads, each with its
own client."""

import asyncio
import base64
import threading

import hvac
import requests

from services.keyvault.domain.errors import VaultUnavailable, WrappedKeyUnusable, WrongKeyMaterial


# OpenBao limits the number of strings in one JSON request body; 250 items stay well inside it.
VAULT_BATCH = 250


class _Transit:
    """hvac in worker threads, with Vault's failures turned into domain errors."""

    def __init__(self, address: str, token: str, mount: str = "transit", timeout_s: float = 5.0) -> None:
        self._address, self._token, self._timeout, self._mount = address, token, timeout_s, mount
        self._local = threading.local()

    def _client(self) -> hvac.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = hvac.Client(url=self._address, token=self._token, timeout=self._timeout)
        return client

    async def _call(self, fn, *args):
        try:
            return await asyncio.to_thread(fn, *args)
        except requests.exceptions.RequestException:
            raise VaultUnavailable("Vault unreachable") from None
        except hvac.exceptions.VaultDown:
            raise VaultUnavailable("Vault sealed") from None
        except hvac.exceptions.Forbidden:
            raise VaultUnavailable("Vault refused the service's token") from None
        except hvac.exceptions.InvalidRequest as exc:
            raise WrappedKeyUnusable(str(exc).split(", on ")[0][:200]) from None
        except hvac.exceptions.InternalServerError as exc:
            raise VaultUnavailable(f"Vault error: {str(exc).splitlines()[0][:200]}") from None



class TransitKek(_Transit):
    """The one key-encryption key of the wrapped backend."""

    def __init__(self, address: str, token: str, key_name: str, mount: str = "transit", timeout_s: float = 5.0) -> None:
        super().__init__(address, token, mount, timeout_s)
        self.key_name = key_name

    async def wrap(self, keys: list[bytes]) -> list[str]:
        """Wraps many subject keys, VAULT_BATCH per request (OpenBao refuses larger JSON bodies)."""
        wrapped: list[str] = []
        for start in range(0, len(keys), VAULT_BATCH):
            wrapped += await self._wrap(keys[start:start + VAULT_BATCH])
        return wrapped

    async def _wrap(self, keys: list[bytes]) -> list[str]:
        def call() -> list[str]:
            batch = [{"plaintext": base64.b64encode(k).decode()} for k in keys]
            data = self._client().secrets.transit.encrypt_data(
                self.key_name, plaintext="", batch_input=batch, mount_point=self._mount)["data"]
            results = data["batch_results"]
            if any("error" in r for r in results):
                raise hvac.exceptions.InternalServerError(next(r["error"] for r in results if "error" in r))
            return [r["ciphertext"] for r in results]
        return await self._call(call)

    async def unwrap(self, wrapped: str) -> bytes:
        def call() -> bytes:
            data = self._client().secrets.transit.decrypt_data(self.key_name, wrapped, mount_point=self._mount)
            return base64.b64decode(data["data"]["plaintext"])
        return await self._call(call)

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
            data = self._client().secrets.transit.rewrap_data(
                self.key_name, ciphertext="", batch_input=[{"ciphertext": w} for w in wrapped],
                mount_point=self._mount)["data"]
            results = data["batch_results"]
            if any("error" in r for r in results):
                raise hvac.exceptions.InternalServerError(next(r["error"] for r in results if "error" in r))
            return [r["ciphertext"] for r in results]
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


class TransitSubjectKeys(_Transit):
    """One derived transit key per subject (the transit-per-subject backend). The service's policy
    lets it create keys explicitly but not through encrypt, so a deleted key is never revived."""

    async def create(self, names: list[str]) -> None:
        def call() -> None:
            transit = self._client().secrets.transit
            for name in names:
                transit.create_key(name, key_type="aes256-gcm96", derived=True, mount_point=self._mount)
        await self._call(call)

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
        try:
            return await self._call(call)
        except WrappedKeyUnusable:
            raise WrongKeyMaterial(field) from None  # Vault could not open it under this key and context

    async def hmac(self, name: str, data: bytes) -> bytes:
        def call() -> bytes:
            value = self._client().secrets.transit.generate_hmac(
                name, hash_input=base64.b64encode(data).decode(), algorithm="sha2-256",
                mount_point=self._mount)["data"]["hmac"]
            return base64.b64decode(value.split(":", 2)[2])
        return await self._call(call)

    async def delete(self, name: str) -> None:
        def call() -> None:
            transit = self._client().secrets.transit
            transit.update_key_configuration(name, deletion_allowed=True, mount_point=self._mount)
            transit.delete_key(name, mount_point=self._mount)
        await self._call(call)
