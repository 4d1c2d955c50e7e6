"""An existing keyvault database, written while rows were keyed by the plain subject id, moves to
keyed tags at the next start: afterwards no column holds the id or a plain hash of it, every row
is still found, by the tag, for the id a caller passes in, and a tombstone's certificate (and its
copies: a retried shred's answer, the shred's event in the outbox) names the tag."""

import base64
import hashlib
import json

import asyncpg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consentry.keyvault.v1 import events_pb2, keyvault_pb2
from services.common.db import apply_migrations, migrations_in
from services.common.signing import Ed25519Signer, verify_signature
from services.keyvault.domain.certificate import TYPE, TYPE_V1, canonical_bytes, names_subject
from services.keyvault.domain.model import KeyState
from services.keyvault.service.backends import TransitPerSubjectBackend
from services.keyvault.store import keyed_rows
from services.keyvault.store.repository import KeyStore
from tests.support import unique

PACKAGE = "services.keyvault.store"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def old_database(postgres):
    """A database at migration 0003, the last one keyed by the plain id."""
    name = unique("keyvault_old").replace("-", "_")
    postgres.create_database(name)
    pool = await asyncpg.create_pool(postgres.dsn(name), min_size=1, max_size=2)
    await apply_migrations(pool, migrations_in("services.common")
                           + [m for m in migrations_in(PACKAGE) if m[0] < f"{PACKAGE}:0004"])
    yield pool
    await pool.close()


async def everything_stored(conn: asyncpg.Connection) -> str:
    """Every value of keyvault's subject rows and shred answers, the certificates in them decoded."""
    rows = await conn.fetch("SELECT * FROM subject_keys") + await conn.fetch("SELECT * FROM idempotency")
    text = [str(v) if not isinstance(v, bytes) else v.decode(errors="replace") for r in rows for v in r.values()]
    answers = await conn.fetch("SELECT response FROM idempotency WHERE response IS NOT NULL")
    text += [base64.b64decode(json.loads(a["response"])["json"]).decode() for a in answers]
    events = await conn.fetch("SELECT payload FROM outbox WHERE event_type = 'keyvault.key.shredded'")
    text += [events_pb2.SubjectKeyShredded.FromString(e["payload"]).certificate.certificate_json.decode()
             for e in events]
    return "\n".join(text)


def v1_certificate(subject_id: str, signer: Ed25519Signer) -> tuple[bytes, bytes]:
    label = sha256(subject_id)[:32]
    body = canonical_bytes({
        "type": TYPE_V1, "certificateId": unique("certificate"), "subjectRef": "ab" * 32,
        "subjectIdSha256": sha256(subject_id), "backend": "wrapped",
        "keysDestroyed": [{"keyId": f"subject-key/{label}", "wrappedUnderKek": "consentry-kek:v1"}],
        "destroyedAt": "2026-01-02T03:04:05Z", "requestId": "dsr-1", "reason": "erasure request",
        "issuerKeyId": signer.key_id})
    return body, signer.sign(body)


def as_idempotent_answer(body: bytes, signature: bytes, key_id: str) -> bytes:
    return json.dumps({"json": base64.b64encode(body).decode(), "signature": base64.b64encode(signature).decode(),
                       "keyId": key_id}).encode()


async def test_rows_keyed_by_the_plain_id_move_to_the_tag(old_database, tagger):
    wrapped, transit, shredded = unique("person-wrapped"), unique("person-transit"), unique("person-shredded")
    signer = Ed25519Signer(Ed25519PrivateKey.generate())
    old_body, old_signature = v1_certificate(shredded, signer)
    async with old_database.acquire() as conn:
        await conn.execute(
            "INSERT INTO subject_keys (subject_id, state, backend, wrapped_key, kek_version) VALUES"
            " ($1, 2, 'wrapped', 'vault:v1:c2VhbGVk', 1), ($2, 2, 'transit-per-subject', $3, 1)",
            wrapped, transit, TransitPerSubjectBackend.PREFIX + sha256(transit)[:32])
        await conn.execute(
            "INSERT INTO subject_keys (subject_id, state, backend, kek_version, shredded_at, certificate_json,"
            " certificate_sig, certificate_key) VALUES ($1, 3, 'wrapped', 0, now(), $2, $3, $4)",
            shredded, old_body, old_signature, signer.key_id)
        await conn.execute("INSERT INTO idempotency (client_id, method, idem_key, request_hash, response)"
                           " VALUES ('dsr', 'ShredSubjectKey', 'k1', '\\x00', $1)",
                           as_idempotent_answer(old_body, old_signature, signer.key_id))
        event = events_pb2.SubjectKeyShredded(request_id="dsr-1", certificate=keyvault_pb2.DeletionCertificate(
            certificate_json=old_body, signature=old_signature, key_id=signer.key_id))
        await conn.execute("INSERT INTO outbox (event_id, event_type, payload_type, payload, occurred_at)"
                           " VALUES (gen_random_uuid(), 'keyvault.key.shredded', $1, $2, now())",
                           event.DESCRIPTOR.full_name, event.SerializeToString())
        before = await everything_stored(conn)
    assert all(sha256(p)[:32] in before for p in (transit, shredded))  # the scan below can fail

    await apply_migrations(old_database, migrations_in(
        PACKAGE, {keyed_rows.NAME: keyed_rows.tag_subject_keys(tagger, signer)}))

    async with old_database.acquire() as conn:
        stored = await everything_stored(conn)
        columns = {r["attname"] for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'subject_keys'::regclass AND attnum > 0"
            " AND NOT attisdropped")}
        keys = await KeyStore(conn, tagger).get_many(None, [wrapped, transit, shredded])
        certificate = await KeyStore(conn, tagger).certificate(None, shredded)
        retry_answer = json.loads(await conn.fetchval("SELECT response FROM idempotency WHERE idem_key = 'k1'"))
        published = events_pb2.SubjectKeyShredded.FromString(await conn.fetchval(
            "SELECT payload FROM outbox WHERE event_type = 'keyvault.key.shredded'"))
    for person in (wrapped, transit, shredded):
        assert person not in stored and sha256(person)[:32] not in stored
        assert base64.b64encode(person.encode()).decode()[:-4] not in stored
    assert "subject_id" not in columns
    # Nothing re-tagged: rows from before controllers are the default controller's (NULL), under these tags.
    assert await old_database.fetchval("SELECT count(*) FROM subject_keys WHERE controller_id IS NOT NULL") == 0
    assert {p: (k.tag, k.state) for p, k in keys.items()} == {
        wrapped: (tagger.tag(wrapped), KeyState.ACTIVE), transit: (tagger.tag(transit), KeyState.ACTIVE),
        shredded: (tagger.tag(shredded), KeyState.SHREDDED)}
    assert keys[wrapped].wrapped_key == "vault:v1:c2VhbGVk"
    # The per-subject key made before keyed rows keeps its Vault name, now derived from the id.
    assert TransitPerSubjectBackend.name_of(keys[transit]) == TransitPerSubjectBackend.PREFIX + sha256(transit)[:32]
    body, old = json.loads(certificate.certificate_json), json.loads(old_body)
    assert verify_signature(signer.public_key_pem, certificate.certificate_json, certificate.signature)
    assert (body["type"], body["certificateId"], body["destroyedAt"]) == (TYPE, old["certificateId"], old["destroyedAt"])
    # Issued before controllers: it names none, so it concerns the default controller's subject (by its tag).
    assert "controllerId" not in body
    assert names_subject(body, shredded, tagger.tag(shredded), "acme-campus", True)
    assert not names_subject(body, wrapped, tagger.tag(wrapped), "acme-campus", True)
    assert body["keysDestroyed"] == [{"keyId": f"subject-key/{tagger.tag(shredded)}",
                                      "wrappedUnderKek": "consentry-kek:v1"}]
    assert base64.b64decode(retry_answer["json"]) == certificate.certificate_json
    assert (published.certificate.certificate_json, published.certificate.signature) == (
        certificate.certificate_json, certificate.signature)


async def test_without_the_erasure_key_the_move_stops_before_dropping_the_id(old_database):
    async with old_database.acquire() as conn:
        await conn.execute("INSERT INTO subject_keys (subject_id, state, backend, wrapped_key, kek_version)"
                           " VALUES ($1, 2, 'wrapped', 'vault:v1:c2VhbGVk', 1)", unique("person"))

    with pytest.raises(asyncpg.NotNullViolationError):
        await apply_migrations(old_database, migrations_in(PACKAGE))
