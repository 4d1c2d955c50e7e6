"""KEK rotation re-wraps every live subject key and, with trim, destroys older KEK versions: live
subjects keep working, while a wrapped key copied from an older backup no longer opens."""

import grpc
import pytest

from consentry.keyvault.v1 import keyvault_pb2 as pb
from services.keyvault.domain.errors import WrappedKeyUnusable
from services.keyvault.store.vault import TransitKek
from tests.keyvault.test_data_keys import consented
from tests.support import unique


@pytest.mark.parametrize("backend", ["wrapped"], scope="session")
async def test_rotation_with_trim_keeps_live_keys_and_strands_old_backups(admin, gate, face, kv_admin, keyvault_app,
                                                                          postgres, vault, vault_token, backend,
                                                                          keyvault_database, tagger):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    backup = postgres.execute("SELECT wrapped_key FROM subject_keys WHERE subject_tag = $1", tagger.tag(subject),
                              database=keyvault_database)

    request = pb.RotateKekRequest(trim=True, idempotency_key=unique("rotate"))
    rotated = await kv_admin.RotateKek(request)
    retried = await kv_admin.RotateKek(request)
    keyvault_app.service.cache.enable()  # drop cached plaintext keys: the next release unwraps in Vault
    reopened = await face.DecryptDataKey(pb.DecryptDataKeyRequest(subject_id=subject, purpose_id=purpose,
                                                                  wrapped_key=issued.wrapped_key))
    current = postgres.execute("SELECT kek_version FROM subject_keys WHERE subject_tag = $1", tagger.tag(subject),
                               database=keyvault_database)

    assert reopened.plaintext_key == issued.plaintext_key
    assert retried == rotated  # the retry did not rotate again
    assert rotated.keys_rewrapped >= 1 and rotated.min_available_version == rotated.kek_version == current
    with pytest.raises(WrappedKeyUnusable, match="too old"):
        await TransitKek(vault.address, vault_token, "consentry-kek").unwrap(backup)


@pytest.mark.parametrize("backend", ["transit-per-subject"], scope="session")
async def test_per_subject_backend_has_no_kek_to_rotate(kv_admin, backend):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kv_admin.RotateKek(pb.RotateKekRequest(trim=True, idempotency_key=unique("rotate")))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
