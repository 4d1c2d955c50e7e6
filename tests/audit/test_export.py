"""The export a DPO takes away, checked offline by `consentry audit verify` with nothing but the
public key: every entry in the signed tree, and the tree grown only by appending since a checkpoint
the DPO kept from before."""

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consentry.audit.v1 import audit_pb2 as pb
from consentry_client.audit_verify import verify_export
from services.audit.domain.checkpoint import Checkpoint, note_for
from services.audit.domain.export_format import checkpoint_line
from tests.audit.test_log import CONTROLLER, _checkpoint_after, entries_of, face_event
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


async def export(dpo, path, **request) -> list[str]:
    chunks = [c.data async for c in dpo.ExportEvents(pb.ExportEventsRequest(**request))]
    path.write_bytes(b"".join(chunks))
    return path.read_text().splitlines()


def kept(checkpoint: pb.Checkpoint) -> dict:
    """A checkpoint as the DPO keeps it (what `consentry audit checkpoint` prints)."""
    return checkpoint_line(Checkpoint(checkpoint.tree_size, checkpoint.root_hash, checkpoint.issued_at.ToDatetime(),
                                      checkpoint.note, checkpoint.signature, checkpoint.key_id))


def verify(tmp_path, file, key_pem: str, earlier: dict | None = None, controller: str | None = None
           ) -> tuple[int, dict]:
    """`consentry audit verify`, run as the DPO would run it: a process with the files and nothing else."""
    key = tmp_path / "audit.pem"
    key.write_text(key_pem)
    args = ["audit", "verify", str(file), "--public-key", str(key), "--json"]
    if earlier is not None:
        (tmp_path / "earlier.json").write_text(json.dumps(earlier))
        args += ["--earlier-checkpoint", str(tmp_path / "earlier.json")]
    if controller is not None:
        args += ["--controller", controller]
    done = subprocess.run([sys.executable, "-m", "services.cli.main", *args], capture_output=True, text=True,
                          timeout=60)
    return done.returncode, json.loads(done.stdout)


async def test_an_export_verifies_offline_and_proves_growth_since_a_kept_checkpoint(
        face_events, dpo, tmp_path, backend):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject)]))
    await entries_of(dpo, subject)
    earlier = (await dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint
    await face_events.Append(pb.AppendRequest(events=[face_event(subject) for _ in range(3)]))
    await entries_of(dpo, subject, until=lambda es: len(es) == 4, kind="face.")
    later = await _checkpoint_after(dpo, earlier.tree_size)
    key = (await dpo.GetPublicKey(pb.GetPublicKeyRequest())).public_key_pem

    lines = await export(dpo, tmp_path / "export.jsonl",
                         filter=pb.EventFilter(subject_id=subject, controller_id=CONTROLLER),
                         since_tree_size=earlier.tree_size)
    code, verdict = verify(tmp_path, tmp_path / "export.jsonl", key, kept(earlier))
    told = []  # what a progress bar hears: every record after the checkpoint, in order
    verify_export(lines, key, kept(earlier), progress=lambda done, total: told.append((done, total)))

    assert code == 0 and verdict["ok"], verdict
    assert told == [(n, len(lines) - 1) for n in range(1, len(lines))]
    assert verdict["entriesVerified"] == len(lines) - 2 >= 4  # minus the checkpoint and consistency lines
    assert verdict["consistentWithTreeSize"] == earlier.tree_size and verdict["treeSize"] >= later.tree_size


async def test_a_tampered_export_or_a_forged_checkpoint_fails_offline(face_events, dpo, tmp_path,
                                                                      backend):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject, result="no-match", score=0.1)]))
    await entries_of(dpo, subject)
    key = (await dpo.GetPublicKey(pb.GetPublicKeyRequest())).public_key_pem
    records = [json.loads(line) for line in await export(
        dpo, tmp_path / "export.jsonl", filter=pb.EventFilter(subject_id=subject, controller_id=CONTROLLER))]

    def write(name: str, changed: list[dict]):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in changed))
        return tmp_path / name
    edited = [{**r, "entryJson": r["entryJson"].replace("no-match", "match")} if r["kind"] == "entry" else r
              for r in records]
    other_key = Ed25519PrivateKey.generate()
    resigned = [{**records[0], "signature": base64.b64encode(
        other_key.sign(base64.b64decode(records[0]["note"]))).decode()}, *records[1:]]
    other_pem = other_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    genuine = verify(tmp_path, tmp_path / "export.jsonl", key)
    tampered = verify(tmp_path, write("edited.jsonl", edited), key)
    foreign_signature = verify(tmp_path, write("resigned.jsonl", resigned), key)
    wrong_key = verify(tmp_path, tmp_path / "export.jsonl", other_pem)

    assert genuine[0] == 0
    assert tampered[0] == 1 and any("not in the signed tree" in p for p in tampered[1]["problems"])
    assert foreign_signature[0] == wrong_key[0] == 1
    assert all("signature" in r[1]["problems"][0] for r in (foreign_signature, wrong_key))


async def test_a_kept_checkpoint_from_another_history_is_not_accepted(face_events, dpo, vault, tmp_path,
                                                                      backend):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject)]))
    await entries_of(dpo, subject)
    earlier = (await dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint
    key = (await dpo.GetPublicKey(pb.GetPublicKeyRequest())).public_key_pem
    await export(dpo, tmp_path / "export.jsonl", since_tree_size=earlier.tree_size,
                 filter=pb.EventFilter(subject_id=subject, controller_id=CONTROLLER))
    # Validly signed (with Vault's root token), same size, another root: what a DPO would hold had
    # the log been rewritten by someone able to sign.
    note = note_for(earlier.tree_size, b"\x07" * 32, datetime.now(UTC))
    signed = vault.client().secrets.transit.sign_data("consentry-audit-checkpoints",
                                                      hash_input=base64.b64encode(note).decode())
    rewritten = {**kept(earlier), "note": base64.b64encode(note).decode(),
                 "signature": signed["data"]["signature"].split(":", 2)[2]}

    genuine_code, genuine = verify(tmp_path, tmp_path / "export.jsonl", key, kept(earlier))
    code, verdict = verify(tmp_path, tmp_path / "export.jsonl", key, rewritten)

    assert genuine_code == 0 and genuine["consistentWithTreeSize"] == earlier.tree_size
    assert code == 1 and any("not an extension" in p for p in verdict["problems"])
