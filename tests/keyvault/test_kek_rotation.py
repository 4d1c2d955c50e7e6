"""KEK rotation re-wraps every live subject key and, with trim, destroys older KEK versions: live
subjects keep working, while a wrapped key copied from an older backup no longer opens."""

import asyncio

import grpc
import pytest

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.keyvault.v1 import keyvault_pb2 as pb
from services.keyvault.domain.errors import WrappedKeyUnusable
from services.keyvault.domain.kek import kek_name
from services.keyvault.domain.model import KeyState
from services.keyvault.store.vault import TransitKek
from services.common.vault_auth import VaultSession
from tests.keyvault.fixtures import CONTROLLER
from tests.keyvault.test_data_keys import consented
from tests.support import unique


@pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
async def test_rotation_with_trim_keeps_live_keys_and_strands_old_backups(
        admin, gate, face, kv_admin_service, keyvault_app, postgres, vault, vault_token, backend, keyvault_database,
        tagger):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    backup = postgres.execute("SELECT wrapped_key FROM subject_keys WHERE subject_tag = $1", tagger.tag(subject, CONTROLLER),
                              database=keyvault_database)

    request = admin_pb.RotateKekRequest(trim=True, idempotency_key=unique("rotate"), controller_id=CONTROLLER)
    rotated = await kv_admin_service.RotateKek(request)
    retried = await kv_admin_service.RotateKek(request)
    keyvault_app.service.cache.enable()  # drop cached plaintext keys: the next release unwraps in Vault
    reopened = await face.DecryptDataKey(pb.DecryptDataKeyRequest(subject_id=subject, purpose_id=purpose,
                                                                  wrapped_key=issued.wrapped_key))
    current = postgres.execute("SELECT kek_version FROM subject_keys WHERE subject_tag = $1", tagger.tag(subject, CONTROLLER),
                               database=keyvault_database)

    assert reopened.plaintext_key == issued.plaintext_key
    assert retried == rotated  # the retry did not rotate again
    assert rotated.keys_rewrapped >= 1 and rotated.min_available_version == rotated.kek_version == current
    with pytest.raises(WrappedKeyUnusable, match="too old"):
        await TransitKek(VaultSession(vault.address, vault_token), kek_name("consentry-kek", CONTROLLER, "")).unwrap(backup)


@pytest.mark.parametrize("stored", ["before the trim", "after the trim"])
@pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
async def test_a_key_wrapped_under_the_old_kek_and_stored_after_the_sweep_still_opens(keyvault_app, backend,
                                                                                     monkeypatch, stored):
    service, kek_backend = keyvault_app.service, keyvault_app.service._backend
    create, wrapped, go_on = kek_backend.create, asyncio.Event(), asyncio.Event()

    async def wrap_then_wait(controller_id, tags):  # a creation that stores its row late
        keys = await create(controller_id, tags)
        wrapped.set()
        await go_on.wait()
        return keys
    monkeypatch.setattr(kek_backend, "create", wrap_then_wait)
    subject = unique("late-subject")
    creating = asyncio.create_task(service.ensure(CONTROLLER, [subject]))
    await wrapped.wait()  # wrapped under the KEK version about to be trimmed, not stored yet
    monkeypatch.setattr(kek_backend, "create", create)
    if stored == "before the trim":  # just after the sweep that found nothing left to re-wrap
        sweep = service._wrapped_below

        async def sweep_then_store(controller_id, version, limit):
            found = await sweep(controller_id, version, limit)
            if not found and not go_on.is_set():
                go_on.set()
                await creating
            return found
        monkeypatch.setattr(service, "_wrapped_below", sweep_then_store)

    version, _, min_available = await service.rotate_kek(CONTROLLER, trim=True)
    go_on.set()
    created = (await creating)[subject]
    service.cache.enable()  # no plaintext cached: the key must unwrap in Vault

    assert min_available == version and created.state is KeyState.ACTIVE
    try:
        [(_, ref, state)] = await service.subject_refs(CONTROLLER, [subject])
    except WrappedKeyUnusable as unusable:
        pytest.fail(f"the key stored after the sweep was trimmed into uselessness: {unusable}")
    assert state is KeyState.ACTIVE and len(ref) == 64


@pytest.mark.parametrize("backend", ["transit-per-subject"], indirect=True, scope="session")
async def test_per_subject_backend_has_no_kek_to_rotate(kv_admin_service, backend):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kv_admin_service.RotateKek(admin_pb.RotateKekRequest(trim=True, idempotency_key=unique("rotate"),
                                                                   controller_id=CONTROLLER))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
