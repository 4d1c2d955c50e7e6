"""The log tables refuse every change, whoever asks: the service's role lacks the privilege, the
schema owner and a superuser in replica mode hit the ALWAYS triggers. A superuser who disables the
triggers can still rewrite rows, and then VerifyLog and the offline verifier both notice."""

import asyncio
import contextlib
import itertools
import json
import uuid

import asyncpg
import pytest
from pydantic import ValidationError

from consentry.audit.v1 import audit_pb2 as pb
from consentry.audit.v1 import audit_pb2_grpc
from consentry_client.audit_verify import verify_export
from services.audit.app import AuditApp
from services.audit.settings import AuditSettings
from services.audit.domain import proofs
from services.audit.service import verification
from tests.audit.fixtures import OWNER, SERVICE_ROLE, audit_settings, provisioned, role_dsn
from tests.audit.test_log import entries_of, face_event
from tests.keyvault.test_data_keys import consented
from tests.support import kafka_settings, secure_channel, unique
from tests.legal import requirement

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")

CHANGES = {
    "update": "UPDATE {table} SET {column} = {column}",
    "delete": "DELETE FROM {table}",
    "truncate": "TRUNCATE {table}",
}
TABLES = {"entries": "body", "tree_nodes": "hash", "checkpoints": "note"}


async def _as(postgres, database: str, role: str) -> asyncpg.Connection:
    return await asyncpg.connect(postgres.dsn(database) if role == "postgres" else role_dsn(postgres, database, role))


@requirement("PIPL 56; Measures Art. 9", "Processing records are kept: no one, not even the schema owner or a superuser replica, changes or deletes the audit log")
@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("who", ["service role", "schema owner", "superuser as replica"])
async def test_no_one_can_change_the_log_tables(audit_app, face_events, dpo, postgres, audit_database, backend,
                                                change, table, who):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject)]))
    await entries_of(dpo, subject)  # every table now has rows
    role = {"service role": SERVICE_ROLE, "schema owner": OWNER, "superuser as replica": "postgres"}[who]
    conn = await _as(postgres, audit_database, role)
    try:
        if who == "superuser as replica":
            await conn.execute("SET session_replication_role = replica")
        before = {tuple(row) for row in await conn.fetch(f"SELECT * FROM {table}")}
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(CHANGES[change].format(table=table, column=TABLES[table]))
        after = {tuple(row) for row in await conn.fetch(f"SELECT * FROM {table}")}
    finally:
        await conn.close()
    # Every row is still there as it was; the sequencer may have appended meanwhile (the subject's
    # key, created for its reference, arrives as a keyvault event).
    assert before and before <= after


@pytest.fixture
def own_audit(run_dir, postgres, kafka, vault, audit_vault_token, dev_ca, consent_app, keyvault_app):
    """Starts an audit service of its own, on a database of its own, with `changes` to its settings:
    its database name, then its stubs as the face app and as the DPO."""

    @contextlib.asynccontextmanager
    async def started(**changes):
        database = unique("audit").replace("-", "_")
        await provisioned(postgres, database)
        settings = audit_settings(run_dir, dev_ca, postgres, database, kafka, keyvault_app.port, vault.address,
                                  audit_vault_token, producers={"consent": consent_app.port})
        app = AuditApp(settings.model_copy(update=changes))
        await app.start()
        channels = [secure_channel(dev_ca, app.port, client) for client in ("face-app", "dpo")]
        try:
            yield database, *(audit_pb2_grpc.AuditServiceStub(c) for c in channels)
        finally:
            for channel in channels:
                await channel.close()
            await app.stop()

    return started


@pytest.fixture
async def scratch_audit(own_audit):
    """An audit service of its own, so tampering with it leaves the session's log intact."""
    async with own_audit() as audit:
        yield audit


async def _export(dpo) -> list[str]:
    chunks = [chunk.data async for chunk in dpo.ExportEvents(pb.ExportEventsRequest())]
    return b"".join(chunks).decode().splitlines()


@requirement("Measures Art. 14; GB/T 41819", "The audit trail is tamper-evident: a change made as superuser is found online and offline")
async def test_tampering_as_superuser_is_found_by_verify_log_and_by_the_offline_verifier(
        scratch_audit, postgres, backend):
    database, face_events, dpo = scratch_audit
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject, result="no-match", score=0.2)]))
    # Only the face event: the subject's key, created for its reference, may be logged beside it.
    [entry] = await entries_of(dpo, subject, kind="face.")
    key = (await dpo.GetPublicKey(pb.GetPublicKeyRequest())).public_key_pem
    assert (await dpo.VerifyLog(pb.VerifyLogRequest())).ok
    assert verify_export(await _export(dpo), key).ok

    forged = json.dumps({**entry, "payload": {"result": "match", "score": 0.99}}, sort_keys=True,
                        separators=(",", ":"))
    conn = await asyncpg.connect(postgres.dsn(database))
    try:
        await conn.execute("ALTER TABLE entries DISABLE TRIGGER ALL")
        await conn.execute("UPDATE entries SET body = $1 WHERE event_id = $2", forged.encode(),
                           uuid.UUID(entry["eventId"]))
        for trigger in ("entries_no_change", "entries_no_truncate"):
            await conn.execute(f"ALTER TABLE entries ENABLE ALWAYS TRIGGER {trigger}")
    finally:
        await conn.close()

    verdict = await dpo.VerifyLog(pb.VerifyLogRequest())
    offline = verify_export(await _export(dpo), key)
    assert not verdict.ok and any("differs" in p for p in verdict.problems)
    assert not offline.ok and any("not in the signed tree" in p for p in offline.problems)


async def _tampered(postgres, database: str, *statements: tuple) -> None:
    """As a superuser who disables the log's triggers."""
    conn = await asyncpg.connect(postgres.dsn(database))
    try:
        await conn.execute("ALTER TABLE entries DISABLE TRIGGER ALL")
        await conn.execute("ALTER TABLE tree_nodes DISABLE TRIGGER ALL")
        for statement in statements:
            await conn.execute(*statement)
    finally:
        await conn.close()


async def _face_leaves(scratch_audit, postgres, count: int) -> list[int]:
    """The leaves of `count` face events appended together, once VerifyLog has found the log sound."""
    database, face_events, dpo = scratch_audit
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject, score=s / 10) for s in range(count)]))
    await entries_of(dpo, subject, kind="face.")
    assert (await dpo.VerifyLog(pb.VerifyLogRequest())).ok
    conn = await asyncpg.connect(postgres.dsn(database))
    try:
        return [r["leaf_index"] for r in await conn.fetch(
            "SELECT leaf_index FROM entries WHERE subject_ref <> '' AND event_type LIKE 'face.%' ORDER BY leaf_index")]
    finally:
        await conn.close()


@pytest.fixture(params=["default chunks", "chunks of 3"])
def scan_chunk(request, monkeypatch) -> None:
    """VerifyLog's chunks as they are, and of three entries: a log of some tens is then read in many
    chunks, taken in turn by both of its readers."""
    if request.param == "chunks of 3":
        monkeypatch.setattr(verification, "SCAN_CHUNK", 3)


async def test_each_tampered_entry_is_named_whatever_its_body_holds(scratch_audit, postgres, backend, scan_chunk):
    """A column changed beside its body, a body that is no UTF-8, one that is JSON but no object, and a
    stored leaf node whose body is untouched: VerifyLog names each and still checks the rest."""
    database, _, dpo = scratch_audit
    column, kept, no_utf8, array = await _face_leaves(scratch_audit, postgres, 4)
    await _tampered(postgres, database,
                    ("UPDATE entries SET producer = 'someone-else' WHERE leaf_index = $1", column),
                    ("UPDATE entries SET body = $1 WHERE leaf_index = $2", b"\xff\xfe{}", no_utf8),
                    ("UPDATE entries SET body = $1 WHERE leaf_index = $2", b"[1, 2]", array),
                    ("UPDATE tree_nodes SET hash = sha256(hash) WHERE level = 0 AND node_index = $1", kept))

    problems = list((await dpo.VerifyLog(pb.VerifyLogRequest())).problems)
    named = {leaf for leaf in (column, kept, no_utf8, array)
             if f"entry {leaf}: indexed columns differ from the hashed entry" in problems}
    assert named == {column, no_utf8, array}
    assert f"tree node 0/{kept} differs from the entries below it" in problems


async def test_an_entry_moved_onto_another_entrys_leaf_is_named(scratch_audit, postgres, backend, scan_chunk):
    """With the key on leaf indexes dropped, an entry relabelled with the index of the one before it:
    VerifyLog names the index stored twice and the one now missing."""
    database, _, dpo = scratch_audit
    first, second, _ = await _face_leaves(scratch_audit, postgres, 3)
    await _tampered(postgres, database, ("ALTER TABLE entries DROP CONSTRAINT entries_pkey",),
                    ("UPDATE entries SET leaf_index = $1 WHERE leaf_index = $2", first, second))

    verdict = await dpo.VerifyLog(pb.VerifyLogRequest())

    assert not verdict.ok
    assert {f"entry {first} is stored more than once", f"entries {second}..{second} are missing"} <= set(verdict.problems)


async def _settled_size(dpo) -> int:
    """The log's size once no event has come in for a second (the services' own events trail a test's)."""
    size = -1
    for _ in range(30):
        latest = (await dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint.tree_size
        if latest == size:
            return size
        size = latest
        await asyncio.sleep(1)
    raise AssertionError("the log kept growing")


async def test_entries_deleted_from_the_middle_and_the_end_are_named_as_missing(scratch_audit, postgres, backend,
                                                                                 scan_chunk):
    """Rows gone from the entries table, with their tree nodes untouched: VerifyLog names each gap, the
    log no longer hashes to its signed roots, and it still checks every entry that is there."""
    database, _, dpo = scratch_audit
    first, kept, _ = await _face_leaves(scratch_audit, postgres, 3)
    size = await _settled_size(dpo)
    last = size - 1  # its gap runs to the end of the log
    await _tampered(postgres, database, ("DELETE FROM entries WHERE leaf_index = ANY($1::bigint[])", [first, last]))

    verdict = await dpo.VerifyLog(pb.VerifyLogRequest())

    assert verdict.tree_size == size and not verdict.ok and verdict.entries_checked == size - 2
    assert {f"entries {first}..{first} are missing", f"entries {last}..{last} are missing"} <= set(verdict.problems)
    assert f"tree node 0/{kept} differs from the entries below it" not in verdict.problems
    assert f"checkpoint {size}: root differs from the entries" in verdict.problems


async def test_a_stored_level_reshaped_around_the_same_bytes_is_still_named(scratch_audit, postgres, backend):
    """Joined in order, the level's bytes stay the same when one hash is split across two nodes, or a
    node moves below index 0: VerifyLog compares such a level node by node."""
    database, _, dpo = scratch_audit
    first, second, third = await _face_leaves(scratch_audit, postgres, 3)
    await _tampered(postgres, database,
                    ("UPDATE tree_nodes SET hash = hash || (SELECT substr(hash, 1, 1) FROM tree_nodes"
                     " WHERE level = 0 AND node_index = $2) WHERE level = 0 AND node_index = $1", first, second),
                    ("UPDATE tree_nodes SET hash = substr(hash, 2) WHERE level = 0 AND node_index = $1", second),
                    ("UPDATE tree_nodes SET node_index = -1 WHERE level = 0 AND node_index = 0",))

    problems = list((await dpo.VerifyLog(pb.VerifyLogRequest())).problems)
    assert {f"tree node 0/{leaf} differs from the entries below it" for leaf in (first, second, 0)} <= set(problems)
    assert f"tree node 0/{third} differs from the entries below it" not in problems


async def test_a_checkpoint_whose_note_names_another_size_is_found_by_verify_log(scratch_audit, postgres, backend):
    database, face_events, dpo = scratch_audit
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject)]))
    await entries_of(dpo, subject, kind="face.")
    checkpoint = (await dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint
    size = checkpoint.tree_size
    assert (await dpo.VerifyLog(pb.VerifyLogRequest())).ok

    altered = checkpoint.note.replace(f"\n{size}\n".encode(), f"\n{size + 1}\n".encode())
    conn = await asyncpg.connect(postgres.dsn(database))
    try:
        await conn.execute("ALTER TABLE checkpoints DISABLE TRIGGER ALL")
        await conn.execute("UPDATE checkpoints SET note = $1 WHERE tree_size = $2", altered, size)
        for trigger in ("checkpoints_no_change", "checkpoints_no_truncate"):
            await conn.execute(f"ALTER TABLE checkpoints ENABLE ALWAYS TRIGGER {trigger}")
    finally:
        await conn.close()

    verdict = await dpo.VerifyLog(pb.VerifyLogRequest())
    assert altered != checkpoint.note
    assert not verdict.ok and f"checkpoint {size}: signature or note does not match" in verdict.problems


async def test_concurrent_producers_and_two_sequencers_never_fork_the_log(scratch_audit, run_dir, postgres, kafka,
                                                                         vault, audit_vault_token, dev_ca,
                                                                         consent_app, keyvault_app, backend):
    database, face_events, dpo = scratch_audit
    second = AuditApp(audit_settings(run_dir, dev_ca, postgres, database, kafka, keyvault_app.port, vault.address,
                                     audit_vault_token, producers={"consent": consent_app.port}))
    await second.start()
    channel = secure_channel(dev_ca, second.port, "door-system")
    doors = audit_pb2_grpc.AuditServiceStub(channel)
    try:
        subject = unique("subj")

        async def burst(client, n):
            for _ in range(n):
                await client.Append(pb.AppendRequest(events=[face_event(subject) for _ in range(5)]))
        await asyncio.gather(burst(face_events, 20), burst(doors, 20))
        await entries_of(dpo, subject, until=lambda es: len(es) == 200, timeout=30, kind="face.")
    finally:
        await channel.close()
        await second.stop()

    conn = await asyncpg.connect(postgres.dsn(database))
    try:
        signed = [(r["tree_size"], bytes(r["root_hash"]))
                  for r in await conn.fetch("SELECT tree_size, root_hash FROM checkpoints ORDER BY tree_size")]
    finally:
        await conn.close()
    # One history: each signed tree extends the one before it.
    for (old_size, old_root), (new_size, new_root) in itertools.pairwise(signed):
        proof = await dpo.GetConsistencyProof(pb.GetConsistencyProofRequest(old_size=old_size, new_size=new_size))
        assert proofs.verify_consistency(old_size, new_size, old_root, new_root, list(proof.hashes))
    verdict = await dpo.VerifyLog(pb.VerifyLogRequest())
    assert verdict.ok, list(verdict.problems)
    assert verdict.checkpoints_checked >= len(signed) > 1  # later events may have been signed meanwhile


async def test_a_batch_that_cannot_commit_leaves_nothing_and_is_logged_once_it_can(scratch_audit, postgres, admin,
                                                                                   gate, backend):
    """Every checkpoint refused for a while (a trigger a superuser adds) while events come from Kafka
    (consents granted) and through Append: the sequencer's batches roll back whole, the batch read
    from Kafka while one was committing goes with it, and once checkpoints are accepted again each
    event is in the log once, the log sound."""
    database, face_events, dpo = scratch_audit
    await _face_leaves(scratch_audit, postgres, 1)
    size = await _settled_size(dpo)
    await _tampered(postgres, database, (
        "CREATE FUNCTION refuse_checkpoint() RETURNS trigger LANGUAGE plpgsql AS"
        " $$BEGIN RAISE EXCEPTION 'checkpoints refused'; END$$",), (
        "CREATE TRIGGER refuse_checkpoint BEFORE INSERT ON checkpoints FOR EACH ROW EXECUTE FUNCTION refuse_checkpoint()",))
    subject = unique("subj")
    sent = [face_event(subject, score=s / 10) for s in range(9)]
    granted = []
    for chunk in (sent[:3], sent[3:6], sent[6:]):  # batches of their own, one read while another commits
        await face_events.Append(pb.AppendRequest(events=chunk))
        granted.append((await consented(admin, gate))[0])
        await asyncio.sleep(0.3)
    conn = await asyncpg.connect(postgres.dsn(database))
    try:
        stored = await conn.fetchval("SELECT count(*) FROM entries")
        signed = await conn.fetchval("SELECT max(tree_size) FROM checkpoints")
        waiting = await conn.fetchval("SELECT count(*) FROM inbox")
        await conn.execute("DROP TRIGGER refuse_checkpoint ON checkpoints")
    finally:
        await conn.close()
    assert stored == signed == size and waiting == len(sent)  # nothing half-applied, nothing lost

    entries = await entries_of(dpo, subject, until=lambda es: len(es) >= len(sent), timeout=30, kind="face.")

    assert sorted(e["eventId"] for e in entries) == sorted(e.event_id for e in sent)
    for person in granted:
        assert len(await entries_of(dpo, person, kind="consent.granted", timeout=30)) == 1
    verdict = await dpo.VerifyLog(pb.VerifyLogRequest())
    assert verdict.ok, list(verdict.problems)


@pytest.fixture
async def small_pool_audit(own_audit):
    """An audit service of its own whose pool holds four connections."""
    async with own_audit(pool_min_size=4, pool_max_size=4) as audit:
        yield audit


def test_an_audit_pool_too_small_for_verify_log_is_refused(kafka, dev_ca, backend):
    with pytest.raises(ValidationError, match="pool_max_size"):
        AuditSettings(pool_max_size=2, kafka=kafka_settings(kafka, dev_ca, "audit"))


async def test_verify_log_asked_by_more_callers_than_connections_answers_each(small_pool_audit, postgres, backend):
    """Each VerifyLog reads on three pooled connections: asked more times at once than the pool has
    connections, every call is still answered (one runs at a time) rather than each holding one
    connection and waiting for another."""
    _, _, dpo = small_pool_audit
    await _face_leaves(small_pool_audit, postgres, 2)
    calls = [dpo.VerifyLog(pb.VerifyLogRequest(), timeout=30) for _ in range(8)]

    verdicts = await asyncio.wait_for(asyncio.gather(*calls), 60)

    assert all(v.ok and v.entries_checked == v.tree_size > 0 for v in verdicts)
