"""`consentry consent purposes | list | history` read every page, so a long list is never cut short."""

import argparse
import json

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as pb
from services.cli import consent_commands
from services.cli.main import parser
from tests.consent.builders import OTHER_CONTROLLER, grant, purpose, registered_controller, registered_purpose
from tests.support import unique


class OneItemPages:
    """A stub that asks for one item per page, as if every list were longer than a page."""

    def __init__(self, stub) -> None:
        self._stub = stub

    def __getattr__(self, rpc: str):
        async def call(request, **options):
            if "page_size" in request.DESCRIPTOR.fields_by_name:
                one = type(request)()
                one.CopyFrom(request)
                one.page_size, request = 1, one
            return await getattr(self._stub, rpc)(request, **options)
        return call


async def test_purposes_lists_every_purpose_over_every_page_as_a_table_or_json(admin, gate, capsys, consent_admin):
    controller = (await registered_controller(consent_admin, unique("campus"))).controller_id
    ids = sorted([(await admin.RegisterPurpose(pb.RegisterPurposeRequest(
        purpose=purpose(controller_id=controller, name=f"Door {i}"), idempotency_key=unique("reg")))).purpose.purpose_id
        for i in range(3)])

    # An operator's list of one controller's purposes (a controller's client sees only its own).
    await consent_commands._call(OneItemPages(admin), argparse.Namespace(action="purposes", controller=controller,
                                                                         json=True))
    rows = json.loads(capsys.readouterr().out)
    await consent_commands._call(OneItemPages(admin), argparse.Namespace(action="purposes", controller=controller,
                                                                         json=False))
    table = capsys.readouterr().out

    assert [(r["purpose_id"], r["controller_id"], r["storage"]) for r in rows] == [(i, controller, "SERVER")
                                                                                  for i in ids]
    assert sorted(r["name"] for r in rows) == ["Door 0", "Door 1", "Door 2"]
    assert all(i in table for i in ids) and "Door 2" in table and "purpose_id" in table  # a table with a header


async def test_list_and_history_show_every_page_as_one_answer(admin, gate, capsys):
    subject, purposes = unique("subj"), []
    for _ in range(3):
        purposes.append((await registered_purpose(admin)).purpose_id)
        await gate.GrantConsent(grant(subject, purposes[-1]))
    for _ in range(2):
        await gate.GrantConsent(grant(subject, purposes[0]))  # a renewal is an event of the same record
    stub = OneItemPages(gate)

    await consent_commands._call(stub, argparse.Namespace(action="list", subject=subject, controller="", json=True))
    listed = json.loads(capsys.readouterr().out)
    await consent_commands._call(stub, argparse.Namespace(action="history", subject=subject, purpose=purposes[0], controller="",
                                                       json=True))
    history = json.loads(capsys.readouterr().out)

    assert [c["purpose_id"] for c in listed["consents"]] == sorted(purposes) and "next_page_token" not in listed
    assert [e["event_type"] for e in history["events"]] == ["CONSENT_EVENT_TYPE_GRANTED"] * 3
    assert history["consent"]["purpose_id"] == purposes[0] and "next_page_token" not in history


async def test_an_operator_lists_and_checks_a_person_in_the_controller_it_names(admin, gate, bank, capsys):
    person, own, theirs = unique("subj"), await registered_purpose(admin), await registered_purpose(
        admin, controller_id=OTHER_CONTROLLER)
    await gate.GrantConsent(grant(person, own.purpose_id))
    await bank.GrantConsent(grant(person, theirs.purpose_id))
    args = parser().parse_args(["consent", "list", "--subject", person, "--controller", OTHER_CONTROLLER,
                                "--client", "admin", "--json"])

    await consent_commands._call(admin, args)
    listed = json.loads(capsys.readouterr().out)
    await consent_commands._call(admin, parser().parse_args([
        "consent", "check", "--subject", person, "--purpose", theirs.purpose_id, "--controller", OTHER_CONTROLLER,
        "--json"]))
    checked = json.loads(capsys.readouterr().out)
    with pytest.raises(grpc.aio.AioRpcError) as unnamed:
        await consent_commands._call(admin, parser().parse_args(["consent", "list", "--subject", person]))

    assert [(c["purpose_id"], c["controller_id"]) for c in listed["consents"]] == [(theirs.purpose_id,
                                                                                    OTHER_CONTROLLER)]
    assert checked["decision"] == "DECISION_ALLOW"
    assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "controller_id" in unnamed.value.details()
