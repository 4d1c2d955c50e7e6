"""Keys made before controllers are the default controller's (erasure key setting
`default_controller`), under the tags they already have: nothing is re-tagged, and the same person
at another controller is someone else."""

import asyncio
import json

import pytest

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.keyvault.v1 import keyvault_admin_pb2_grpc, keyvault_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry_client import error_info
from services.keyvault.app import KeyVaultApp
from services.keyvault.provision import provision
from services.keyvault.domain.model import KeyState
from tests.keyvault.fixtures import CONTROLLER, OTHER_CONTROLLER, keyvault_settings
from tests.keyvault.test_data_keys import refused
from tests.support import erasure_key, secure_channel, unique


@pytest.fixture
async def upgraded(run_dir, postgres, kafka, vault, dev_ca, consent_app, backend):
    """A keyvault on a database of its own whose default controller is CONTROLLER, as a deployment that
    began before controllers is configured (a database pins its default controller at its first start);
    the app, its database and stubs of its operator."""
    database = unique("keyvault_upgraded").replace("-", "_")
    await asyncio.to_thread(postgres.create_database, database)
    erasure = erasure_key(vault, "keyvault").model_copy(update={"default_controller": CONTROLLER})
    token = await asyncio.to_thread(provision, vault.client(), backend)  # a deployment's own token
    app = KeyVaultApp(keyvault_settings(run_dir, dev_ca, postgres.dsn(database), kafka,
                                        consent_app.port, vault.address, token, backend, erasure=erasure))
    await app.start()
    channel, face = secure_channel(dev_ca, app.port, "admin"), secure_channel(dev_ca, app.port, "face-app")
    yield (app, database, keyvault_pb2_grpc.KeyVaultServiceStub(channel), keyvault_pb2_grpc.KeyVaultServiceStub(face),
           keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub(channel))
    await channel.close()
    await face.close()
    await app.stop()


async def test_a_key_from_before_controllers_is_the_default_controllers(upgraded, postgres, tagger):
    app, keyvault_database, operator, face, admin = upgraded
    person = unique("person")
    # As a version before controllers stored it: under the tag of the id alone, naming no controller.
    [before] = await app.service.subject_refs(None, [person], create_missing=True)
    stored = postgres.execute("SELECT controller_id IS NULL FROM subject_keys WHERE subject_tag = $1",
                              tagger.tag(person), database=keyvault_database)
    assert before[2] is KeyState.ACTIVE and stored is True

    refs = {c: (await operator.GetSubjectRefs(pb.GetSubjectRefsRequest(subject_ids=[person], controller_id=c))).refs[0]
            for c in (CONTROLLER, OTHER_CONTROLLER)}
    own = await face.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=person))  # a client of the default controller
    shredded = await admin.ShredSubjectKey(admin_pb.ShredSubjectKeyRequest(
        subject_id=person, controller_id=CONTROLLER, request_id=unique("dsr"), reason="erasure request",
        idempotency_key=unique("shred")))
    after = postgres.execute("SELECT state FROM subject_keys WHERE subject_tag = $1", tagger.tag(person),
                             database=keyvault_database)

    assert (refs[CONTROLLER].state, refs[CONTROLLER].subject_ref) == (pb.KEY_STATE_ACTIVE, before[1])
    assert (refs[OTHER_CONTROLLER].state, refs[OTHER_CONTROLLER].subject_ref) == (pb.KEY_STATE_ABSENT, "")
    assert own.state == pb.KEY_STATE_ACTIVE
    body = json.loads(shredded.certificate.certificate_json)
    assert (body["controllerId"], body["subjectTag"]) == (CONTROLLER, tagger.tag(person))
    assert after == KeyState.SHREDDED.value


async def test_the_default_controller_is_not_offboarded_and_keeps_its_keys(upgraded, postgres, tagger):
    app, keyvault_database, _, _, admin = upgraded
    person = unique("person")
    await app.service.subject_refs(None, [person], create_missing=True)  # a key from before controllers

    error = await refused(admin.OffboardController, admin_pb.OffboardControllerRequest(
        controller_id=CONTROLLER, reason="contract ended", idempotency_key=unique("offboard")))
    state = postgres.execute("SELECT state FROM subject_keys WHERE subject_tag = $1", tagger.tag(person),
                             database=keyvault_database)

    assert error.code().name == "FAILED_PRECONDITION" and error_info(error).reason == "DEFAULT_CONTROLLER_STAYS"
    assert state == KeyState.ACTIVE.value
