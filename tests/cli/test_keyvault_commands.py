"""`consentry keyvault ...` names the controller an operator acts in (`--controller`); without it the
operator's call fails in one clear line and changes nothing."""

import json

import grpc
import pytest

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.keyvault.v1 import keyvault_pb2 as pb
from tests.keyvault.fixtures import CONTROLLER, OTHER_CONTROLLER
from tests.keyvault.test_data_keys import refused
from tests.keyvault.test_offboarding import leaving_controller
from tests.cli.in_process import consentry, endpoints
from tests.support import unique


async def test_shred_names_the_controller_and_leaves_the_persons_key_at_another(
        keyvault_app, dev_ca, tmp_path, capsys, face, kv_admin):
    run_dir = str(endpoints(tmp_path, dev_ca, "keyvault", keyvault_app.port))
    person = unique("person")
    await face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=person))  # theirs at CONTROLLER
    shred = ["keyvault", "shred", "--subject", person, "--client", "admin", "--run-dir", run_dir]

    unnamed = await consentry(*shred)
    refused = capsys.readouterr()
    named = await consentry(*shred, "--controller", OTHER_CONTROLLER)
    printed = json.loads(capsys.readouterr().out)

    assert unnamed == 1 and refused.out == ""
    assert len(refused.err.splitlines()) == 1 and refused.err.startswith("consentry: INVALID_ARGUMENT")
    assert "controller_id" in refused.err
    assert named == 0 and printed["certificate"]["controllerId"] == OTHER_CONTROLLER
    states = {c: (await kv_admin.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=person, controller_id=c))).state
              for c in (CONTROLLER, OTHER_CONTROLLER)}
    assert states == {CONTROLLER: pb.KEY_STATE_ACTIVE, OTHER_CONTROLLER: pb.KEY_STATE_SHREDDED}


async def test_status_and_verify_answer_for_the_named_controller(keyvault_app, dev_ca, tmp_path, capsys, face):
    run_dir = str(endpoints(tmp_path, dev_ca, "keyvault", keyvault_app.port))
    person = unique("person")
    await face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=person))
    admin = ["--client", "admin", "--run-dir", run_dir]
    assert await consentry("keyvault", "shred", "--subject", person, "--controller", CONTROLLER, *admin) == 0
    (tmp_path / "cert.json").write_text(capsys.readouterr().out)

    answers = {}
    for controller in (CONTROLLER, OTHER_CONTROLLER):
        assert await consentry("keyvault", "status", "--subject", person, "--controller", controller, *admin,
                               "--json") == 0
        state = json.loads(capsys.readouterr().out)["state"]
        assert await consentry("keyvault", "verify", "--subject", person, "--controller", controller,
                               "--certificate", str(tmp_path / "cert.json"), *admin, "--json") == 0
        answers[controller] = state, json.loads(capsys.readouterr().out)["names_subject"]

    assert answers == {CONTROLLER: ("KEY_STATE_SHREDDED", True), OTHER_CONTROLLER: ("KEY_STATE_ABSENT", False)}


async def test_an_operator_rotates_one_controllers_kek_and_offboards_another_from_the_command_line(
        keyvault_app, dev_ca, tmp_path, capsys, admin, consent_admin, kv_admin, vault):
    run_dir = str(endpoints(tmp_path, dev_ca, "keyvault", keyvault_app.port))
    leaving, _ = await leaving_controller(admin, consent_admin, vault, keyvault_app)
    await kv_admin.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=unique("person"), controller_id=leaving))
    operator = ["--client", "admin", "--run-dir", run_dir]

    rotated = await consentry("keyvault", "rotate-kek", "--controller", leaving, *operator, "--json")
    rotation = capsys.readouterr()
    offboarded = await consentry("keyvault", "offboard", "--controller", leaving, "--reason", "contract ended",
                                 *operator)
    printed = json.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit) as unnamed:  # argparse's usage error
        await consentry("keyvault", "offboard", "--reason", "contract ended", *operator)
    usage = capsys.readouterr()

    if keyvault_app.settings.backend == "wrapped":
        assert rotated == 0 and json.loads(rotation.out)["kek_version"] == 2
    else:  # no KEK to rotate: one clear line
        assert rotated == 1 and rotation.err.startswith("consentry: FAILED_PRECONDITION")
    assert offboarded == 0 and printed["subject_keys_destroyed"] == 1
    assert printed["certificate"]["controllerId"] == leaving and printed["signature"]
    assert unnamed.value.code == 2 and "--controller" in usage.err and "Traceback" not in usage.err


@pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
async def test_rotate_kek_moves_every_live_key_to_the_new_version_and_says_so(
        keyvault_app, dev_ca, tmp_path, capsys, face, kv_admin_service, backend):
    run_dir = str(endpoints(tmp_path, dev_ca, "keyvault", keyvault_app.port))
    for _ in range(3):
        await face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=unique("person")))
    status = admin_pb.GetKekStatusRequest(controller_id=CONTROLLER)
    before = {v.kek_version: v.live_keys for v in (await kv_admin_service.GetKekStatus(status)).versions}

    rotated = await consentry("keyvault", "rotate-kek", "--controller", CONTROLLER, "--client", "admin",
                              "--run-dir", run_dir, "--json")
    printed = json.loads(capsys.readouterr().out)
    after = {v.kek_version: v.live_keys for v in (await kv_admin_service.GetKekStatus(status)).versions}
    unnamed = await refused(kv_admin_service.GetKekStatus, admin_pb.GetKekStatusRequest())

    assert sum(before.values()) >= 3 and printed["kek_version"] > max(before)
    assert rotated == 0 and after == {printed["kek_version"]: sum(before.values())}
    assert printed["keys_rewrapped"] == sum(before.values())
    assert unnamed.code() == grpc.StatusCode.INVALID_ARGUMENT
