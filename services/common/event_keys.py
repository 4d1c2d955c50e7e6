"""Event keys: an event about a person reaches the broker without naming them for longer than they
live here. Each person gets a random AES-256 key of this producer's own; the outbox relay seals the
person's id and the event's payload under it; a consumer asks the producer to open what it read
(EventService.OpenEvents). Erasing the person destroys the key, and with it every copy of their
events on the broker, where messages cannot be edited. The row stays as a tombstone keyed by the
erasure tag, so no key is ever made for that person again: an event that still comes after the
erasure is published redacted."""

import os
import uuid
from dataclasses import dataclass

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consentry.events.v1 import envelope_pb2
from services.common.erasure import SubjectTagger


@dataclass(frozen=True)
class EventKey:
    key_id: str
    key: bytes | None  # None: the person was erased
    controller_id: str = ""  # whose subject the key is of


def _associated_data(key_id: str, event_id: str) -> bytes:
    return f"consentry/event/v1\x1f{key_id}\x1f{event_id}".encode()


def seal(key: EventKey, event_id: str, content: envelope_pb2.SealedContent) -> bytes:
    assert key.key is not None
    nonce = os.urandom(12)
    return nonce + AESGCM(key.key).encrypt(nonce, content.SerializeToString(), _associated_data(key.key_id, event_id))


def open_sealed(key: EventKey, event_id: str, sealed: bytes) -> envelope_pb2.SealedContent:
    """cryptography's InvalidTag when the envelope was not sealed under this key for this event."""
    assert key.key is not None
    plain = AESGCM(key.key).decrypt(sealed[:12], sealed[12:], _associated_data(key.key_id, event_id))
    return envelope_pb2.SealedContent.FromString(plain)


class EventKeys:
    def __init__(self, tagger: SubjectTagger) -> None:
        self._tagger = tagger

    async def for_subjects(self, conn: asyncpg.Connection, subjects: set[tuple[str | None, str]]
                           ) -> dict[tuple[str | None, str], EventKey]:
        """Each subject's key, by (controller, subject id), made for those who have none (never for an
        erased subject). The same person at two controllers has two keys."""
        tags = {self._tagger.tag(subject_id, controller_id): (controller_id, subject_id)
                for controller_id, subject_id in subjects}
        await conn.execute(
            "INSERT INTO event_keys (key_id, subject_tag, key, controller_id)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::text[]) ON CONFLICT (subject_tag) DO NOTHING",
            [uuid.uuid4() for _ in tags], list(tags), [AESGCM.generate_key(256) for _ in tags],
            [controller_id for controller_id, _ in tags.values()])
        rows = await conn.fetch("SELECT key_id, subject_tag, key FROM event_keys WHERE subject_tag = ANY($1::text[])",
                                list(tags))
        return {tags[r["subject_tag"]]: EventKey(str(r["key_id"]), r["key"]) for r in rows}



async def destroy_event_keys(conn: asyncpg.Connection, subject_tags: list[str]) -> None:
    """Inside the erasure's transaction (the people's erasure tags); leaves the tombstone even for a
    person who had no key yet."""
    await conn.execute(
        "INSERT INTO event_keys (key_id, subject_tag, key, erased_at)"
        " SELECT key_id, tag, NULL, now() FROM unnest($1::uuid[], $2::text[]) AS t(key_id, tag)"
        " ON CONFLICT (subject_tag) DO UPDATE SET key = NULL, erased_at = coalesce(event_keys.erased_at, now())",
        [uuid.uuid4() for _ in subject_tags], subject_tags)


async def keys_by_id(conn: asyncpg.Connection | asyncpg.Pool, key_ids: list[str]) -> dict[str, EventKey]:
    """With the controller each is of; a key made before controllers is the default controller's."""
    rows = await conn.fetch(
        "SELECT key_id, key, coalesce(controller_id, (SELECT controller_id FROM default_controller), '') AS controller_id"
        " FROM event_keys WHERE key_id = ANY($1::uuid[])", key_ids)
    return {str(r["key_id"]): EventKey(str(r["key_id"]), r["key"], r["controller_id"]) for r in rows}
