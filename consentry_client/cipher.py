"""Templates sealed under per-subject data keys: AES-256-GCM locally, the data key wrapped by keyvault
and stored inside the blob, so shredding the subject's key makes every copy unreadable, and the end
of the consent a template was sealed under makes that template unreadable."""

import asyncio
import os
import struct
from collections.abc import Sequence

import grpc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_client.edge import EdgeView
from consentry_client.errors import (
    ConsentRefused, ConsentryClientError, CorruptTemplate, DeviceStorageOnly, SubjectErased, TemplateRetired, error_info,
)

# Blob layout: version (1 byte) | wrapped key length (2 bytes, big-endian) | wrapped key | nonce | ciphertext+tag
VERSION = 1
_HEADER = struct.Struct(">BH")
NONCE_SIZE = 12
TAG_SIZE = 16
# Keyvault's reasons for a blob that was altered, or made for another subject or purpose.
_CORRUPT = {"WRONG_KEY_MATERIAL", "NO_SUBJECT_KEY"}


class TemplateCipher:
    """Raises ConsentRefused without consent, DeviceStorageOnly for a purpose whose face data stays on
    the device, SubjectErased after shredding, TemplateRetired for a blob
    sealed under a consent that has ended since, CorruptTemplate for a blob that is malformed, altered
    or someone else's."""

    def __init__(self, channel: grpc.aio.Channel, *, timeout: float = 5.0, edge: EdgeView | None = None) -> None:
        """`edge`: keep released keys in memory while they may be used (consentry_client.edge)."""
        self._stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        self._timeout = timeout
        self._edge = edge

    async def seal(self, subject_id: str, purpose_id: str, template: bytes) -> bytes:
        request = pb.GenerateDataKeyRequest(subject_id=subject_id, purpose_id=purpose_id)
        issued = await self._call(self._stub.GenerateDataKey, request)
        nonce = os.urandom(NONCE_SIZE)
        # The plaintext key lives only in this frame; only its wrapped form leaves it.
        sealed = AESGCM(issued.plaintext_key).encrypt(nonce, template, _associated_data(subject_id, purpose_id))
        return _HEADER.pack(VERSION, len(issued.wrapped_key)) + issued.wrapped_key + nonce + sealed

    async def open(self, subject_id: str, purpose_id: str, blob: bytes) -> bytes:
        """With an edge view, a key kept in memory opens the template; the use is audited (UseNotRecorded
        when it cannot be) before the template is returned."""
        wrapped_key, nonce, sealed = _parse(blob)
        edge = self._edge
        if edge is not None and (kept := edge.kept(subject_id, purpose_id, wrapped_key)) is not None:
            template = _decrypted(kept.key, nonce, sealed, _associated_data(subject_id, purpose_id))
            refused = await edge.accounts.record([(subject_id, purpose_id, kept.consent_id, kept.consent_lapses)])
            if refused:
                edge.forget(subject_id, purpose_id)
                raise _refusal(refused[subject_id, purpose_id])
            return template
        return await self._released(subject_id, purpose_id, wrapped_key, nonce, sealed)

    async def open_many(self, templates: Sequence[tuple[str, str, bytes]]) -> list[bytes | ConsentryClientError]:
        """Each (subject, purpose, blob) opened as `open` opens it, side by side (a gallery to match a
        probe against): in place of a template that cannot be opened, its error (ConsentRefused,
        CorruptTemplate, ...). Other failures raise, as `open`'s do. The uses from memory are audited
        together before any template is returned."""
        opened: list[bytes | ConsentryClientError | None] = [None] * len(templates)
        from_memory, asked = [], []
        for i, (subject_id, purpose_id, blob) in enumerate(templates):
            try:
                wrapped_key, nonce, sealed = _parse(blob)
                kept = self._edge.kept(subject_id, purpose_id, wrapped_key) if self._edge is not None else None
                if kept is None:
                    asked.append((i, self._released(subject_id, purpose_id, wrapped_key, nonce, sealed)))
                    continue
                opened[i] = _decrypted(kept.key, nonce, sealed, _associated_data(subject_id, purpose_id))
                from_memory.append((i, (subject_id, purpose_id, kept.consent_id, kept.consent_lapses)))
            except CorruptTemplate as corrupt:
                opened[i] = corrupt
        answers = await asyncio.gather(*(call for _, call in asked), return_exceptions=True)
        for (i, _), answer in zip(asked, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, ConsentryClientError):
                raise answer
            opened[i] = answer
        if from_memory:
            assert self._edge is not None
            refused = await self._edge.accounts.record(use for _, use in from_memory)
            for i, (subject_id, purpose_id, _, _) in from_memory:
                if (subject_id, purpose_id) in refused:
                    self._edge.forget(subject_id, purpose_id)
                    opened[i] = _refusal(refused[subject_id, purpose_id])
        return opened  # type: ignore[return-value]  # every slot is filled

    async def _released(self, subject_id: str, purpose_id: str, wrapped_key: bytes, nonce: bytes,
                        sealed: bytes) -> bytes:
        """Opened with the key DecryptDataKey releases, which an edge view then keeps while it may."""
        edge = self._edge
        version = edge.version if edge is not None else 0
        request = pb.DecryptDataKeyRequest(subject_id=subject_id, purpose_id=purpose_id, wrapped_key=wrapped_key)
        released = await self._call(self._stub.DecryptDataKey, request)
        key = AESGCM(released.plaintext_key)
        template = _decrypted(key, nonce, sealed, _associated_data(subject_id, purpose_id))
        if edge is not None:
            edge.keep(version, subject_id, purpose_id, wrapped_key, released, key)
        return template

    async def _call(self, rpc, request):
        """Other failures (UNAVAILABLE, DEADLINE_EXCEEDED, ...) propagate as gRPC errors, to be retried."""
        try:
            return await rpc(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            translated = _translated(error)
            if translated is None:
                raise
            raise translated from error


def _decrypted(key: AESGCM, nonce: bytes, sealed: bytes, associated: bytes) -> bytes:
    try:
        return key.decrypt(nonce, sealed, associated)
    except (InvalidTag, ValueError) as error:
        raise CorruptTemplate("ciphertext does not authenticate") from error


def _associated_data(subject_id: str, purpose_id: str) -> bytes:
    # Length-prefixed, so ("ab", "c") and ("a", "bc") authenticate differently.
    parts = [f"consentry-template/v{VERSION}".encode(), subject_id.encode(), purpose_id.encode()]
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def _parse(blob: bytes) -> tuple[bytes, bytes, bytes]:
    if len(blob) < _HEADER.size:
        raise CorruptTemplate("too short")
    version, key_length = _HEADER.unpack_from(blob)
    if version != VERSION:
        raise CorruptTemplate(f"unknown version {version}")
    key_end = _HEADER.size + key_length
    if key_length == 0 or len(blob) < key_end + NONCE_SIZE + TAG_SIZE:
        raise CorruptTemplate("truncated")
    nonce_end = key_end + NONCE_SIZE
    return blob[_HEADER.size:key_end], blob[key_end:nonce_end], blob[nonce_end:]


def _refusal(reason: str) -> ConsentryClientError:
    """What keyvault's refusal of a use from memory means to the caller, as DecryptDataKey's would."""
    if reason == "SUBJECT_ERASED":
        return SubjectErased("the subject's key is shredded")
    if reason == "KEY_GENERATION_RETIRED":
        return TemplateRetired("the consent the key was released under has ended")
    if reason == "DEVICE_STORAGE_ONLY":
        return DeviceStorageOnly("the purpose keeps face data on the device")
    return ConsentRefused(reason)


def _translated(error: grpc.aio.AioRpcError) -> Exception | None:
    info = error_info(error)
    if info.reason == "SUBJECT_ERASED":
        return SubjectErased(error.details() or "")
    if info.reason == "KEY_GENERATION_RETIRED":
        return TemplateRetired(error.details() or "")
    if info.reason == "DEVICE_STORAGE_ONLY":
        return DeviceStorageOnly(error.details() or "")
    if error.code() == grpc.StatusCode.PERMISSION_DENIED and "denyReason" in info.metadata:
        return ConsentRefused(info.metadata["denyReason"])
    if info.reason in _CORRUPT:
        return CorruptTemplate(error.details() or "")
    return None
