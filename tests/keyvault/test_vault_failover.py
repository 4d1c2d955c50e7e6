"""Rehearsal of an OpenBao failover under load, on this machine: keyvault releases data keys and
audit's signer signs checkpoint notes through a three-node raft cluster (TLS, verified against the
cluster's CA; auto-unsealed by a fourth node's transit key) while the cluster's leader is killed
with SIGKILL. Both go through a standby, as behind the `openbao` Service, which forwards to whichever
node leads. Neither ever answers wrongly: a release either opens the subject's key or is refused
UNAVAILABLE, a signature either verifies or is refused; both go on once another node leads. How
long they were refused is measured, not asserted, and written to .run/rehearsal/."""

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_dev.launchers.vault_cluster import OpenBaoCluster
from services.audit.domain.errors import SignerUnavailable
from services.audit.provision import KEY_NAME, ensure_checkpoint_key
from services.audit.store.checkpoint_signer import VaultCheckpointSigner
from services.common.vault_auth import VaultSession
from services.keyvault.app import KeyVaultApp
from services.keyvault.provision import provision
from tests.keyvault.fixtures import CONTROLLER, keyvault_settings
from tests.keyvault.test_data_keys import consented
from tests.support import erasure_key, secure_channel

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")]
RESULTS = Path(__file__).resolve().parents[2] / ".run" / "rehearsal"
CALLERS, SUBJECTS = 8, 16
LOAD_BEFORE_S, LOAD_AFTER_S, GIVE_UP_S = 2.0, 3.0, 60.0


@dataclass
class Calls:
    """Each call's end (seconds on the monotonic clock) and whether it answered."""
    answered: list[float] = field(default_factory=list)
    refused: list[tuple[float, str]] = field(default_factory=list)
    wrong: int = 0

    def window(self, killed_at: float) -> dict:
        """From the kill: the first refusal, the last, and the longest time without an answer."""
        after = sorted(t for t in self.answered if t >= killed_at)
        ends = [killed_at, *after]
        return {"answered": len(self.answered), "refused": len(self.refused), "wrong": self.wrong,
                "first_refused_after_kill_s": round(min((t for t, _ in self.refused), default=killed_at) - killed_at, 3),
                "last_refused_after_kill_s": round(max((t for t, _ in self.refused), default=killed_at) - killed_at, 3),
                "longest_without_answer_s": round(max(b - a for a, b in zip(ends, ends[1:], strict=False)), 3)
                if len(ends) > 1 else None}


async def _release_load(face, keys: dict[str, tuple[str, bytes, bytes]], calls: Calls, stop: asyncio.Event) -> None:
    """One caller: DecryptDataKey of a random subject's data key, again and again."""
    subjects = list(keys)
    while not stop.is_set():
        subject = random.choice(subjects)
        purpose, wrapped, plaintext = keys[subject]
        try:
            answer = await face.DecryptDataKey(pb.DecryptDataKeyRequest(
                subject_id=subject, purpose_id=purpose, wrapped_key=wrapped), timeout=15)
        except grpc.aio.AioRpcError as error:
            calls.refused.append((time.monotonic(), error.code().name))
            await asyncio.sleep(0.05)
            continue
        calls.answered.append(time.monotonic())
        calls.wrong += answer.plaintext_key != plaintext


async def _sign_load(signer: VaultCheckpointSigner, calls: Calls, stop: asyncio.Event) -> None:
    """The sequencer signs one checkpoint at a time; each signature is checked against the public key."""
    public = load_pem_public_key(signer.public_key_pem.encode())
    n = 0
    while not stop.is_set():
        n += 1
        note = f"rehearsal checkpoint {n}".encode()
        try:
            signature = await signer.sign(note)
        except SignerUnavailable as error:
            calls.refused.append((time.monotonic(), str(error)[:80]))
            await asyncio.sleep(0.05)
            continue
        calls.answered.append(time.monotonic())
        try:
            public.verify(signature, note)
        except Exception:  # noqa: BLE001 - any failure to verify is a wrong answer
            calls.wrong += 1


async def _until_recovered(calls: list[Calls], killed_at: float) -> None:
    """Until every load answered for LOAD_AFTER_S past its last refusal (GIVE_UP_S at most)."""
    while time.monotonic() - killed_at < GIVE_UP_S:
        last = max((t for c in calls for t, _ in c.refused), default=killed_at)
        if all(any(t > last + LOAD_AFTER_S for t in c.answered) for c in calls):
            return
        await asyncio.sleep(0.2)


async def test_keyvault_and_the_checkpoint_signer_ride_out_the_leaders_crash(
        tmp_path_factory, postgres, kafka, vault, dev_ca, consent_app, admin, gate, backend):
    run_dir = tmp_path_factory.mktemp("failover")
    database = "keyvault_failover"
    postgres.create_database(database)
    with OpenBaoCluster(run_dir / "cluster") as cluster:
        leader = cluster.leader()
        standby = next(node for node in range(len(cluster.nodes)) if node != leader)
        root = cluster.root_client(leader)
        token = provision(root, backend, controllers=(CONTROLLER,))
        ensure_checkpoint_key(root)
        settings = keyvault_settings(run_dir, dev_ca, postgres.dsn(database), kafka, consent_app.port,
                                     cluster.address_of(standby), token, backend,
                                     erasure=erasure_key(vault, "keyvault")).model_copy(update={
            "vault_ca_file": cluster.ca_file, "key_cache_ttl_s": 0.0})  # every release asks OpenBao
        app = KeyVaultApp(settings)
        await app.start()
        channel = secure_channel(dev_ca, app.port, "face-app")
        face = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        signer = VaultCheckpointSigner(VaultSession(cluster.address_of(standby), root.token, cluster.ca_file),
                                       KEY_NAME)
        try:
            keys = {}
            for _ in range(SUBJECTS):
                subject, purpose = await consented(admin, gate)
                issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
                keys[subject] = (purpose, issued.wrapped_key, issued.plaintext_key)
            await signer.load_public_key()

            releases, signatures, stop = Calls(), Calls(), asyncio.Event()
            load = [asyncio.create_task(_release_load(face, keys, releases, stop)) for _ in range(CALLERS)]
            load.append(asyncio.create_task(_sign_load(signer, signatures, stop)))
            await asyncio.sleep(LOAD_BEFORE_S)
            answered_before = (len(releases.answered), len(signatures.answered))
            killed_at = time.monotonic()
            await asyncio.to_thread(cluster.kill, leader)
            await _until_recovered([releases, signatures], killed_at)
            stop.set()
            await asyncio.gather(*load)
            new_leader = await asyncio.to_thread(cluster.wait_for_leader, [leader])
        finally:
            await channel.close()
            await app.stop()

    figures = {"callers": CALLERS, "subjects": SUBJECTS, "killed_node": leader, "through_node": standby,
               "new_leader": new_leader, "releases": releases.window(killed_at),
               "signatures": signatures.window(killed_at),
               "release_refusals": sorted({code for _, code in releases.refused})}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "openbao-failover.json").write_text(json.dumps(figures, indent=1) + "\n")
    print(json.dumps(figures))

    assert min(answered_before) > 0  # the load ran before the crash
    assert releases.wrong == signatures.wrong == 0  # never a wrong key, never a signature that fails to verify
    assert {code for _, code in releases.refused} <= {"UNAVAILABLE"}  # refused cleanly, as Vault away
    last_refusal = max((t for c in (releases, signatures) for t, _ in c.refused), default=killed_at)
    assert all(any(t > last_refusal + LOAD_AFTER_S for t in c.answered) for c in (releases, signatures))
    assert new_leader != leader
