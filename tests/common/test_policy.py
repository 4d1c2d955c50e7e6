"""The policy's wildcards: "*" and "Service/*" grant loosely, yet never an admin service's RPC
unless the grant names that admin service itself."""

import tomllib

import pytest

from consentry_dev.policy import POLICY
from services.common.auth import Policy

ERASE = "consentry.consent.v1.ConsentAdminService/EraseSubject"
SHRED = "consentry.keyvault.v1.KeyVaultAdminService/ShredSubjectKey"
CHECK = "consentry.consent.v1.ConsentService/CheckConsent"


def grant(*rpcs: str):
    return Policy.parse({"clients": {"c": {"rpcs": list(rpcs), "purposes": ["*"]}}}).clients["c"]


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
