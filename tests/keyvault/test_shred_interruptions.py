"""Shredding while other things happen: a shred cut off halfway, and a shred racing a subject's
first key. Whatever the interleaving, the key is gone, the certificate says what was destroyed,
and nothing is left in Vault."""

import asyncio
import json

import grpc
import hvac
import pytest

from consentry.keyvault.v1 import keyvault_pb2 as pb
from services.keyvault.service.backends import TransitPerSubjectBackend
from tests.keyvault.fixtures import CONTROLLER
from tests.keyvault.test_data_keys import consented, refused
from tests.keyvault.test_shredding import shred_request


def vault_has_subject_key(vault, tag: str) -> bool:
    try:
        vault.client().secrets.transit.read_key(TransitPerSubjectBackend.PREFIX + tag)
    except hvac.exceptions.InvalidPath:
        return False
    return True


class CrashAfterVaultDelete(Exception):
    """Stands for the process dying between Vault's delete and the database commit."""


@pytest.mark.parametrize("backend", ["transit-per-subject"], indirect=True, scope="session")
async def test_a_shred_cut_off_after_vault_deleted_the_key_is_finished_by_its_retry(
        admin, gate, face, kv_admin, keyvault_app, vault, backend, monkeypatch, tagger, kv_admin_service):
    subject, purpose = await consented(admin, gate)
    await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    shredder = keyvault_app.service._shredder
    real_backend = shredder._backend

    class Crashing:
        name, destroys_in_vault = real_backend.name, real_backend.destroys_in_vault

        async def destroy(self, key):
            await real_backend.destroy(key)
            raise CrashAfterVaultDelete()

    monkeypatch.setattr(shredder, "_backend", Crashing())
    request = shred_request(subject)
    cut_off = await refused(kv_admin_service.ShredSubjectKey, request)
    halfway = await kv_admin.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=subject, controller_id=CONTROLLER))
    release = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    monkeypatch.setattr(shredder, "_backend", real_backend)

    finished = await kv_admin_service.ShredSubjectKey(request)

    status = await kv_admin.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=subject, controller_id=CONTROLLER))
    body = json.loads(finished.certificate.certificate_json)
    assert cut_off.code() == grpc.StatusCode.INTERNAL and "CrashAfterVaultDelete" not in cut_off.details()
    assert halfway.state == pb.KEY_STATE_SHREDDING
    assert release.code() == grpc.StatusCode.FAILED_PRECONDITION and "erased" in release.details()
    assert status.state == pb.KEY_STATE_SHREDDED and not vault_has_subject_key(vault, tagger.tag(subject, CONTROLLER))
    # Computed before the cut, kept with the row: the certificate still names the audit reference.
    assert len(body["subjectRef"]) == 64


async def test_shredding_a_subject_while_its_first_key_is_created_never_leaves_a_key_behind(
        admin, gate, face, kv_admin, vault, backend, tagger, kv_admin_service):
    subjects = [(await consented(admin, gate))[0] for _ in range(24)]

    async def race(subject: str):
        created, certificate = await asyncio.gather(
            face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=subject)),
            kv_admin_service.ShredSubjectKey(shred_request(subject)), return_exceptions=True)
        return subject, created, certificate
    outcomes = await asyncio.gather(*(race(s) for s in subjects))

    for subject, created, shredded in outcomes:
        assert not isinstance(shredded, BaseException), shredded
        destroyed = json.loads(shredded.certificate.certificate_json)["keysDestroyed"]
        status = await kv_admin.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=subject, controller_id=CONTROLLER))
        assert status.state == pb.KEY_STATE_SHREDDED
        if isinstance(created, grpc.aio.AioRpcError):  # the tombstone came first: the subject is erased
            assert created.code() == grpc.StatusCode.FAILED_PRECONDITION
        else:  # the key came first: the certificate must account for it
            assert destroyed != []
        if backend == "transit-per-subject":
            assert not vault_has_subject_key(vault, tagger.tag(subject, CONTROLLER))
