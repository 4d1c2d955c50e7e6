"""The policy's wildcards: "*" and "Service/*" grant loosely, yet never an admin service's RPC
unless the grant names that admin service itself. And every client acts for one controller or is an
operator: a policy that leaves it open is refused as it is loaded."""

import tomllib

import pytest

from consentry_dev.policy import POLICY
from services.common.auth import PermissionDenied, Policy, PolicyError

ERASE = "consentry.consent.v1.ConsentAdminService/EraseSubject"
SHRED = "consentry.keyvault.v1.KeyVaultAdminService/ShredSubjectKey"
CHECK = "consentry.consent.v1.ConsentService/CheckConsent"


def grant(*rpcs: str):
    return Policy.parse({"clients": {"c": {"operator": True, "rpcs": list(rpcs), "purposes": ["*"]}}}).clients["c"]


@pytest.mark.parametrize("rpcs", [["*"], ["consentry.consent.v1.ConsentService/*"],
                                  ["*", "consentry.keyvault.v1.KeyVaultAdminService/*"]])
def test_a_loose_grant_does_not_reach_an_admin_rpc(rpcs):
    assert not grant(*rpcs).may_call(ERASE)


@pytest.mark.parametrize("rpcs", [[ERASE], ["consentry.consent.v1.ConsentAdminService/*"]])
def test_an_admin_rpc_is_reached_by_its_own_name(rpcs):
    assert grant(*rpcs).may_call(ERASE)
    assert not grant(*rpcs).may_call(CHECK)  # and naming it grants nothing else


def test_the_bare_wildcard_still_reaches_every_other_service():
    assert grant("*").may_call(CHECK)


def test_the_dev_server_without_a_policy_lets_its_one_client_do_everything():
    client = Policy.for_server(None, "dev").clients["dev"]
    assert client.may_call(ERASE) and client.may_call(CHECK)


def test_in_the_dev_policy_only_admin_and_dsr_reach_admin_rpcs():
    clients = Policy.parse(tomllib.loads(POLICY)).clients
    assert {name for name, c in clients.items() if c.may_call(ERASE)} == {"admin", "dsr"}
    assert {name for name, c in clients.items() if c.may_call(SHRED)} == {"admin", "dsr"}


def test_in_the_dev_policy_the_demo_gate_acts_for_the_demo_controller_and_the_rest_are_operators():
    clients = Policy.parse(tomllib.loads(POLICY)).clients
    assert {name: c.controller_id for name, c in clients.items() if not c.is_operator} == {"demo-gate": "acme-campus"}
    assert {name for name, c in clients.items() if c.is_operator} == {"admin", "keyvault", "audit", "dsr", "dpo", "portal",
                                                                      "console"}
    # Only the console appends what staff did to the audit log.
    assert {name for name, c in clients.items() if c.records_staff_actions} == {"console"}


def test_a_client_of_a_controller_carries_its_controller():
    client = Policy.parse(tomllib.loads('[clients.gate]\ncontroller = "acme"\nrpcs = ["*"]\n')).clients["gate"]
    assert (client.controller_id, client.is_operator) == ("acme", False)


@pytest.mark.parametrize(("entry", "words"), [
    ('rpcs = ["*"]', "names no controller"),
    ('operator = false\nrpcs = ["*"]', "names no controller"),
    ('controller = "acme"\noperator = true\nrpcs = ["*"]', "never both"),
    ('controller = ""\nrpcs = ["*"]', "must be a controller id"),
    ('controller = ["acme", "other"]\nrpcs = ["*"]', "must be a controller id"),
    ('operator = "yes"\nrpcs = ["*"]', "must be true or false"),
    ('operator = true\nrecords_staff_actions = "yes"\nrpcs = ["*"]', "records_staff_actions must be true or false"),
])
def test_a_client_with_neither_or_both_a_controller_and_operator_is_refused_at_load(tmp_path, entry, words):
    path = tmp_path / "policy.toml"
    path.write_text(f'[clients.fine]\noperator = true\nrpcs = ["*"]\n\n[clients.careless-gate]\n{entry}\n')
    with pytest.raises(PolicyError, match=words) as refused:
        Policy.for_server(path, None)
    assert "'careless-gate'" in str(refused.value)


def test_an_admin_service_granted_to_a_controllers_client_is_still_refused():
    policy = Policy.parse({"clients": {"office": {"controller": "campus", "rpcs": ["*", ERASE.rsplit("/", 1)[0] + "/*"],
                                                  "purposes": ["*"]}}})

    assert policy.authorize("office", CHECK).controller_id == "campus"
    with pytest.raises(PermissionDenied) as refused:
        policy.authorize("office", ERASE)

    assert refused.value.reason == "OPERATOR_ONLY"
