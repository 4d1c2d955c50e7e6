"""Migration: a log written before controllers keeps its leaves as they are (they cannot change), and
its entries, which name no controller, become the default controller's. The service upgrades such a
log in place at start; the old and the new entries verify together in the one tree."""

import asyncio
import json
import secrets
import uuid
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest

from consentry.audit.v1 import audit_pb2 as pb
from consentry.audit.v1 import audit_pb2_grpc
from consentry_client.audit_verify import verify_export
from services.audit.app import AuditApp
from services.audit.domain import merkle
from services.audit.domain.checkpoint import note_for
from services.audit.store.checkpoint_signer import VaultCheckpointSigner
from services.common.db import apply_migrations, create_pool, migrations_in
from services.common.vault_auth import VaultSession
from tests.audit.fixtures import OWNER, audit_settings, provisioned, role_dsn
from tests.audit.test_log import face_event
from tests.keyvault.test_data_keys import refused
from tests.support import Clients, unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
ACME, RIVER = "acme-campus", "river-bank"  # acme-campus: the default controller (fixtures.py)


async def _log_before_controllers(postgres, database: str, vault, token: str, ref: str) -> None:
    """The schema as it was before controllers, holding one entry as it was written then."""
    owner = await create_pool(role_dsn(postgres, database, OWNER), 1, 1)
    try:
        await apply_migrations(owner, [m for m in migrations_in("services.audit.store")
                                       if not m[0].endswith("0003_controllers.sql")])
    finally:
        await owner.close()
    body = json.dumps({"v": 1, "eventId": str(uuid.uuid4()), "producer": "face-app", "sequence": None,
                       "type": "face.enrolled", "subjectRef": ref, "occurredAt": "2025-01-05T10:00:00.000000Z",
                       "payload": {}}, sort_keys=True, separators=(",", ":")).encode()
    leaf = merkle.leaf_hash(body)
    signer = VaultCheckpointSigner(VaultSession(vault.address, token), "consentry-audit-checkpoints")
    await signer.load_public_key()
    issued = datetime.now(UTC)
    note = note_for(1, leaf, issued)
    conn = await asyncpg.connect(role_dsn(postgres, database, OWNER))
    try:
        document = json.loads(body)
        await conn.execute("INSERT INTO entries VALUES (0, $1, 'face-app', NULL, 'face.enrolled', $2, $3, $4)",
                           uuid.UUID(document["eventId"]), ref, datetime(2025, 1, 5, 10, tzinfo=UTC), body)
        await conn.execute("INSERT INTO tree_nodes VALUES (0, 0, $1)", leaf)
        await conn.execute("INSERT INTO checkpoints VALUES (1, $1, $2, $3, $4, $5)", leaf, issued, note,
                           await signer.sign(note), signer.key_id)
    finally:
        await conn.close()


async def test_entries_from_before_controllers_are_the_default_controllers_and_still_verify(
        tmp_path, postgres, kafka, vault, audit_vault_token, dev_ca, consent_app, keyvault_app, backend):
    database = unique("audit_old").replace("-", "_")
    await provisioned(postgres, database)
    ref = secrets.token_hex(32)
    await _log_before_controllers(postgres, database, vault, audit_vault_token, ref)
    app = AuditApp(audit_settings(tmp_path, dev_ca, postgres, database, kafka, keyvault_app.port, vault.address,
                                  audit_vault_token, topics=(f"{database}.events",),
                                  producers={"consent": consent_app.port}))
    await app.start()
    clients = Clients(dev_ca, app.port, audit_pb2_grpc.AuditServiceStub)
    try:
        dpo, acme, river, face = (clients(c) for c in ("dpo", "acme-dpo", "river-dpo", "face-app"))

        async def by_ref(client, controller: str = "") -> list[int]:
            answer = await client.QueryEvents(pb.QueryEventsRequest(
                filter=pb.EventFilter(subject_ref=ref, controller_id=controller)))
            return [e.leaf_index for e in answer.entries]

        seen = {"acme": await by_ref(acme), "river": await by_ref(river), "operator": await by_ref(dpo),
                "operator at acme": await by_ref(dpo, ACME), "operator at river": await by_ref(dpo, RIVER)}
        proof = await acme.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=0))
        not_rivers = await refused(river.GetInclusionProof, pb.GetInclusionProofRequest(leaf_index=0))
        export = b"".join([c.data async for c in acme.ExportEvents(pb.ExportEventsRequest(
            filter=pb.EventFilter(subject_ref=ref)))]).decode().splitlines()
        key = (await dpo.GetPublicKey(pb.GetPublicKeyRequest())).public_key_pem

        new = face_event(unique("person"))
        await face.Append(pb.AppendRequest(events=[new]))
        async with asyncio.timeout(20):
            while (await dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint.tree_size < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        verdict = await dpo.VerifyLog(pb.VerifyLogRequest())
        [newest] = (await acme.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(type="face.match.attempted")))
                    ).entries
    finally:
        await clients.close()
        await app.stop()

    assert seen == {"acme": [0], "river": [], "operator": [0], "operator at acme": [0], "operator at river": []}
    assert proof.leaf_index == 0 and proof.tree_size >= 1
    assert not_rivers.code() == grpc.StatusCode.NOT_FOUND
    assert len(export) == 2 and "controllerId" not in json.loads(json.loads(export[1])["entryJson"])
    assert verify_export(export, key, controller=ACME, default_controller=ACME).ok
    assert not verify_export(export, key, controller=ACME).ok  # whose it is rests on the stated default
    assert json.loads(newest.entry_json)["controllerId"] == ACME and newest.leaf_index == 1
    assert verdict.ok and verdict.tree_size == 2 and verdict.entries_checked == 2, verdict.problems
