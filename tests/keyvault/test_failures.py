"""Dependencies away: a sealed Vault or an unreachable consent service refuse releases with a clear
status, change nothing, and service resumes once they are back. Own OpenBao: it gets sealed here."""

import grpc
import pytest

from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_dev.launchers import OpenBaoProcess, free_port
from services.keyvault.app import KeyVaultApp
from services.keyvault.provision import provision
from tests.keyvault.fixtures import CONTROLLER, keyvault_settings
from tests.keyvault.test_data_keys import consented, refused
from tests.support import erasure_key, secure_channel


@pytest.fixture(scope="module")
async def sealable(tmp_path_factory, postgres, kafka, vault, dev_ca, consent_app, backend):
    run_dir = tmp_path_factory.mktemp("sealable")
    database = f"keyvault_sealable_{backend.replace('-', '_')}"
    postgres.create_database(database)
    with OpenBaoProcess(run_dir / "bao").start() as bao:
        app = KeyVaultApp(keyvault_settings(run_dir, dev_ca, postgres.dsn(database), kafka,
                                            consent_app.port, bao.address, provision(bao.client(), backend, controllers=(CONTROLLER,)),
                                            backend, erasure=erasure_key(vault, "keyvault")))
        await app.start()
        channel = secure_channel(dev_ca, app.port, "face-app")
        try:
            yield bao, keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        finally:
            await channel.close()
            await app.stop()


async def test_sealed_vault_refuses_cleanly_and_service_resumes_after_unseal(admin, gate, sealable):
    bao, face = sealable
    subject, purpose = await consented(admin, gate)
    request = pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose)

    bao.client().sys.seal()
    try:
        error = await refused(face.GenerateDataKey, request)
        status = await face.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=subject))
    finally:
        bao.client().sys.submit_unseal_key(bao.unseal_key)
    resumed = await face.GenerateDataKey(request)

    assert error.code() == grpc.StatusCode.UNAVAILABLE and "sealed" in error.details()
    assert status.state == pb.KEY_STATE_ABSENT  # no half-created key left behind
    assert len(resumed.plaintext_key) == 32


async def test_unreachable_consent_service_means_no_key(run_dir, postgres, kafka, vault, vault_token, dev_ca,
                                                       admin, gate, backend, keyvault_database):
    subject, purpose = await consented(admin, gate)
    settings = keyvault_settings(run_dir, dev_ca, postgres.dsn(keyvault_database), kafka,
                                 free_port(), vault.address, vault_token, backend,
                                 erasure=erasure_key(vault, "keyvault"))
    app = KeyVaultApp(settings)
    await app.start()
    channel = secure_channel(dev_ca, app.port, "face-app")
    try:
        error = await refused(keyvault_pb2_grpc.KeyVaultServiceStub(channel).GenerateDataKey,
                              pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    finally:
        await channel.close()
        await app.stop()
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert "consent service unreachable" in error.details()
