"""Checkpoints are signed by an Ed25519 key in Vault/OpenBao transit; the private key never leaves
Vault. hvac is synchronous, so calls run in a worker thread."""

import asyncio
import base64
import hashlib
from collections.abc import Callable

import hvac
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hvac.api.secrets_engines.transit import Transit

from services.audit.domain.errors import SignerUnavailable
from services.common.vault_auth import VaultLoginFailed, VaultSession


class VaultCheckpointSigner:
    def __init__(self, vault: VaultSession, key_name: str, mount: str = "transit", timeout_s: float = 5.0) -> None:
        self._vault, self._timeout = vault, timeout_s
        self._key_name, self._mount = key_name, mount
        self.key_id = ""
        self.public_key_pem = ""

    async def load_public_key(self) -> None:
        """The latest version's public half, and its id (the first 16 hex of its SHA-256)."""
        data = (await self._call(lambda transit: transit.read_key(self._key_name, mount_point=self._mount)))["data"]
        raw = base64.b64decode(data["keys"][str(data["latest_version"])]["public_key"])
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]
        self.public_key_pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    async def sign(self, note: bytes) -> bytes:
        signed = await self._call(lambda transit: transit.sign_data(
            self._key_name, hash_input=base64.b64encode(note).decode(), mount_point=self._mount))
        return base64.b64decode(signed["data"]["signature"].split(":", 2)[2])

    async def _call(self, step: Callable[[Transit], dict]) -> dict:
        """`step` with transit, in a worker thread."""
        try:
            return await asyncio.to_thread(lambda: step(self._vault.client(self._timeout).secrets.transit))
        except requests.exceptions.RequestException:
            raise SignerUnavailable("Vault unreachable") from None
        except VaultLoginFailed as exc:
            raise SignerUnavailable(f"Vault login failed: {exc}") from None
        except hvac.exceptions.VaultError as exc:
            if isinstance(exc, hvac.exceptions.Forbidden):
                self._vault.refused()
            raise SignerUnavailable(str(exc).splitlines()[0].split(", on ")[0][:200]) from None
