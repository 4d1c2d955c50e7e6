"""A DPO verifies an audit export with the client library alone: nothing of the services is needed
(a process that cannot import them checks the file), and a changed entry or a tree that did not only
grow fails the check."""

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consentry_client.audit_verify import verify_export
from services.audit.domain import merkle, proofs
from services.audit.domain.checkpoint import Checkpoint, note_for
from services.audit.domain.export_format import checkpoint_line, consistency_line, dumps, entry_line

BODIES = [json.dumps({"eventId": f"e-{i}", "type": "face.match"}).encode() for i in range(6)]
EARLIER = 4

# Run as a DPO's machine would: the services' packages cannot be imported there.
VERIFY = """import json, sys
sys.modules["services"] = None
from consentry_client.audit_verify import verify_export
lines, key, earlier = open(sys.argv[1]).read().splitlines(), open(sys.argv[2]).read(), open(sys.argv[3]).read()
verdict = verify_export(lines, key, json.loads(earlier) if earlier else None)
print(json.dumps({"ok": verdict.ok, "entries": verdict.entries_verified, "since": verdict.consistent_with,
                  "problems": verdict.problems}))
"""


def signed(key: Ed25519PrivateKey, size: int, root: bytes) -> Checkpoint:
    note = note_for(size, root, datetime(2026, 1, 5, tzinfo=UTC))
    return Checkpoint(size, root, datetime(2026, 1, 5, tzinfo=UTC), note, key.sign(note), "k1")


def export(key: Ed25519PrivateKey) -> tuple[list[dict], dict]:
    """The export the service writes of a six-entry log, with proofs of growth since size 4; and the
    size-4 checkpoint the DPO kept."""
    frontier = merkle.Frontier()
    nodes = {(level, index): node for level, index, node in frontier.extend(map(merkle.leaf_hash, BODIES))}
    size = len(BODIES)
    [earlier_root] = merkle.hashes_for(proofs.root_plan(EARLIER), nodes)
    lines = [checkpoint_line(signed(key, size, frontier.root()))]
    lines += [entry_line(i, body, merkle.hashes_for(proofs.inclusion_plan(i, size), nodes))
              for i, body in enumerate(BODIES)]
    lines.append(consistency_line(EARLIER, size, merkle.hashes_for(proofs.consistency_plan(EARLIER, size), nodes)))
    return lines, checkpoint_line(signed(key, EARLIER, earlier_root))


def verify(tmp_path, lines: list[dict], key: Ed25519PrivateKey, earlier: dict | None) -> dict:
    files = [tmp_path / "export.jsonl", tmp_path / "audit.pem", tmp_path / "earlier.json"]
    files[0].write_bytes(b"".join(map(dumps, lines)))
    files[1].write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    files[2].write_text(json.dumps(earlier) if earlier else "")
    done = subprocess.run([sys.executable, "-c", VERIFY, *map(str, files)], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def test_an_export_verifies_with_the_client_library_alone(tmp_path):
    key = Ed25519PrivateKey.generate()
    lines, earlier = export(key)

    assert verify(tmp_path, lines, key, earlier) == {"ok": True, "entries": 6, "since": EARLIER, "problems": []}


def test_a_changed_entry_or_another_key_fails_the_check(tmp_path):
    key = Ed25519PrivateKey.generate()
    lines, earlier = export(key)
    changed = [*lines[:3], {**lines[3], "entryJson": lines[3]["entryJson"].replace("match", "no-match")}, *lines[4:]]

    tampered = verify(tmp_path, changed, key, earlier)
    foreign = verify(tmp_path, lines, Ed25519PrivateKey.generate(), None)

    assert not tampered["ok"] and tampered["problems"] == ["line 4: entry 2 is not in the signed tree"]
    assert not foreign["ok"] and foreign["problems"] == ["checkpoint: signature does not verify with the given"
                                                         " public key"]


def test_a_tree_that_did_not_only_grow_fails_the_check(tmp_path):
    key = Ed25519PrivateKey.generate()
    lines, _ = export(key)
    # A checkpoint of size 4 over other entries: the log was rewritten, not extended, since.
    other = merkle.Frontier()
    other.extend(merkle.leaf_hash(b"rewritten %d" % i) for i in range(EARLIER))

    verdict = verify(tmp_path, lines, key, checkpoint_line(signed(key, EARLIER, other.root())))

    assert not verdict["ok"] and verdict["problems"] == [
        f"the tree of size {len(BODIES)} is not an extension of the earlier checkpoint"]


def _resized(line: dict, size: int) -> dict:
    """A checkpoint line whose note names another tree size, its signature kept."""
    note = base64.b64decode(line["note"])
    altered = note.replace(f"\n{line['treeSize']}\n".encode(), f"\n{size}\n".encode())
    assert altered != note
    return {**line, "treeSize": size, "note": base64.b64encode(altered).decode()}


def test_a_checkpoint_whose_note_names_another_size_fails_the_check(tmp_path):
    key = Ed25519PrivateKey.generate()
    lines, earlier = export(key)

    genuine = verify(tmp_path, lines, key, earlier)
    grown = verify(tmp_path, [_resized(lines[0], len(BODIES) + 1), *lines[1:]], key, None)
    kept_larger = verify(tmp_path, lines, key, _resized(earlier, EARLIER + 1))

    assert genuine["ok"]
    assert not grown["ok"] and grown["problems"] == ["checkpoint: signature does not verify with the given public key"]
    assert not kept_larger["ok"] and kept_larger["problems"] == [
        "earlier checkpoint: signature does not verify with the given public key"]


def _controllers_log(key: Ed25519PrivateKey) -> list[dict]:
    """An export of a log with an entry from before controllers (it names none), then one of
    acme-campus and one of river-bank, each with its inclusion proof."""
    bodies = [json.dumps({"v": 1, "eventId": "e-old", "type": "face.match"}).encode(),
              json.dumps({"v": 2, "eventId": "e-acme", "controllerId": "acme-campus"}).encode(),
              json.dumps({"v": 2, "eventId": "e-river", "controllerId": "river-bank"}).encode()]
    frontier = merkle.Frontier()
    nodes = {(level, index): node for level, index, node in frontier.extend(map(merkle.leaf_hash, bodies))}
    return [checkpoint_line(signed(key, len(bodies), frontier.root())),
            *(entry_line(i, body, merkle.hashes_for(proofs.inclusion_plan(i, len(bodies)), nodes))
              for i, body in enumerate(bodies))]


def test_every_entry_must_name_the_expected_controller_when_asked():
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    lines = [json.dumps(line) for line in _controllers_log(key)]

    unasked = verify_export(lines, pem)
    acme = verify_export([lines[0], *lines[1:3]], pem, controller="acme-campus", default_controller="acme-campus")
    acme_without_default = verify_export([lines[0], *lines[1:3]], pem, controller="acme-campus")
    passed_off = verify_export(lines, pem, controller="acme-campus", default_controller="acme-campus")
    river_with_old = verify_export([lines[0], lines[1], lines[3]], pem, controller="river-bank",
                                   default_controller="acme-campus")

    assert unasked.ok and unasked.entries_verified == 3
    assert acme.ok and acme.entries_verified == 2
    assert acme_without_default.problems == ["line 2: entry 0 is not controller 'acme-campus''s (it names none:"
                                             " from before controllers, it is the default controller's)"]
    assert passed_off.problems == ["line 4: entry 2 is not controller 'acme-campus''s (it is 'river-bank''s)"]
    assert river_with_old.problems == ["line 2: entry 0 is not controller 'river-bank''s (it is 'acme-campus''s)"]
