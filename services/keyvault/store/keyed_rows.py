"""Migration step 0005: rows written while subject_keys was keyed by the plain id get its tag (see
migration 0004), and the certificates of their tombstones, which named the subject by a plain
SHA-256, are issued again naming the tag, also where a copy was kept: an idempotency record's
answer to a shred, and the shred's event in the outbox (so a replay publishes the new one). It runs
once, in the migration's transaction, with the service's keys."""

import base64
import hashlib
import json

import asyncpg

from consentry.keyvault.v1 import events_pb2
from services.common.db import MigrationStep
from services.common.erasure import SubjectTagger
from services.common.signing import Ed25519Signer
from services.keyvault.domain.certificate import TYPE, TYPE_V1, canonical_bytes
from services.keyvault.domain.model import LEGACY_TRANSIT_NAME

NAME = "0005_tag_subject_keys"
BATCH = 5000


def tag_subject_keys(tagger: SubjectTagger, signer: Ed25519Signer) -> MigrationStep:
    async def step(conn: asyncpg.Connection) -> None:
        reissued: dict[str, tuple[bytes, bytes]] = {}  # certificate id: (json, signature)
        while rows := await conn.fetch(
                "SELECT subject_id, backend, wrapped_key, certificate_json, certificate_sig FROM subject_keys"
                " WHERE subject_tag IS NULL LIMIT $1", BATCH):
            # No controller: these rows predate controllers, so they are the default controller's.
            tags = [tagger.tag(r["subject_id"]) for r in rows]
            certificates = [_certificate(r, tag, signer, reissued) for r, tag in zip(rows, tags, strict=True)]
            await conn.execute(
                "UPDATE subject_keys k SET subject_tag = c.tag, wrapped_key = c.wrapped, certificate_json = c.json,"
                " certificate_sig = c.sig, certificate_key = coalesce(c.key, k.certificate_key)"
                " FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::text[])"
                " AS c(subject_id, tag, wrapped, json, sig, key) WHERE k.subject_id = c.subject_id",
                [r["subject_id"] for r in rows], tags, [_wrapped(r) for r in rows], [c[0] for c in certificates],
                [c[1] for c in certificates], [c[2] for c in certificates])
        if reissued:
            await _answer_retries_with(conn, reissued, signer.key_id)
            await _publish_again_with(conn, reissued, signer.key_id)
    return step


def _wrapped(row: asyncpg.Record) -> str | None:
    if row["backend"] == "transit-per-subject" and row["wrapped_key"] is not None:
        return LEGACY_TRANSIT_NAME  # the column held the Vault name, a hash of the id
    return row["wrapped_key"]


def _certificate(row: asyncpg.Record, tag: str, signer: Ed25519Signer,
                 reissued: dict[str, tuple[bytes, bytes]]) -> tuple[bytes | None, bytes | None, str | None]:
    """(json, signature, key id) to store: a v1 certificate issued again as v2, with the same id."""
    if row["certificate_json"] is None:
        return None, None, None
    old = json.loads(bytes(row["certificate_json"]))
    if old.get("type") != TYPE_V1:
        return bytes(row["certificate_json"]), bytes(row["certificate_sig"]), None
    label = hashlib.sha256(row["subject_id"].encode()).hexdigest()[:32]  # how v1 named keys
    new = {k: v for k, v in old.items() if k != "subjectIdSha256"}
    new |= {"type": TYPE, "subjectTag": tag, "issuerKeyId": signer.key_id, "reissuedFrom": TYPE_V1,
            "keysDestroyed": [{**k, "keyId": k["keyId"].replace(label, tag)} for k in old["keysDestroyed"]]}
    body = canonical_bytes(new)
    reissued[new["certificateId"]] = body, signer.sign(body)
    return body, reissued[new["certificateId"]][1], signer.key_id


async def _answer_retries_with(conn: asyncpg.Connection, reissued: dict[str, tuple[bytes, bytes]],
                               key_id: str) -> None:
    """A retried shred answers with what its idempotency record holds (services/keyvault/api/stored_answers.py
    `SHREDDED`): the v2 certificate from now on."""
    for row in await conn.fetch("SELECT client_id, idem_key, response FROM idempotency"
                                " WHERE method = 'ShredSubjectKey' AND response IS NOT NULL"):
        stored = json.loads(bytes(row["response"]))
        certificate_id = json.loads(base64.b64decode(stored["json"])).get("certificateId")
        if certificate_id not in reissued:
            continue
        body, signature = reissued[certificate_id]
        answer = {"json": base64.b64encode(body).decode(), "signature": base64.b64encode(signature).decode(),
                  "keyId": key_id}
        await conn.execute("UPDATE idempotency SET response = $3 WHERE client_id = $1 AND method = 'ShredSubjectKey'"
                           " AND idem_key = $2", row["client_id"], row["idem_key"], json.dumps(answer).encode())


async def _publish_again_with(conn: asyncpg.Connection, reissued: dict[str, tuple[bytes, bytes]],
                              key_id: str) -> None:
    """Shred events still in the outbox carry the v2 certificate (already published ones: for a replay)."""
    for row in await conn.fetch("SELECT id, payload FROM outbox WHERE payload_type = $1",
                                events_pb2.SubjectKeyShredded.DESCRIPTOR.full_name):
        event = events_pb2.SubjectKeyShredded.FromString(bytes(row["payload"]))
        certificate_id = json.loads(event.certificate.certificate_json or b"{}").get("certificateId")
        if certificate_id not in reissued:
            continue
        body, signature = reissued[certificate_id]
        event.certificate.certificate_json, event.certificate.signature, event.certificate.key_id = \
            body, signature, key_id
        await conn.execute("UPDATE outbox SET payload = $2 WHERE id = $1", row["id"], event.SerializeToString())
