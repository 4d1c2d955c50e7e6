"""Checkpoints are signed by an Ed25519 key in Vault/OpenBao transit; the private key never leaves
Vault. hvac is synchronous, so calls run in a worker thread."""

import asyncio
import base64
import hashlib

import hvac
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.domain.errors import SignerUnavailable


class VaultCheckpointSigner:
    def __init__(self, address: str, token: str, key_name: str, mount: str = "transit",
                 timeout_s: float = 5.0) -> None:
        self._client = hvac.Client(url=address, token=token, timeout=timeout_s)
        self._key_name, self._mount = key_name, mount
        self.key_id = ""
        self.public_key_pem = ""

    async def load_public_key(self) -> None:
        """The latest version's public half, and its id (the first 16 hex of its SHA-256)."""
        data = (await self._call(self._client.secrets.transit.read_key, self._key_name,
                                 mount_point=self._mount))["data"]
        raw = base64.b64decode(data["keys"][str(data["latest_version"])]["public_key"])
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]
        self.public_key_pem = Ed25519PublicKey.from_public_bytes(raw).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    async def sign(self, note: bytes) -> bytes:
        signed = await self._call(self._client.secrets.transit.sign_data, self._key_name,
                                  hash_input=base64.b64encode(note).decode(), mount_point=self._mount)
        return base64.b64decode(signed["data"]["signature"].split(":", 2)[2])

    @staticmethod
    async def _call(fn, *args, **kwargs):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except requests.exceptions.RequestException:
            raise SignerUnavailable("Vault unreachable") from None
        except hvac.exceptions.VaultError as exc:
            raise SignerUnavailable(str(exc).splitlines()[0].split(", on ")[0][:200]) from None
