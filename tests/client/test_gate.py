"""The consent gate answers from the consent service and fails closed when it cannot ask."""

import asyncio

import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry_client import ConsentGate, ConsentRefused, Decision, connect
from consentry_dev.launchers import free_port
from tests.consent.builders import registered_purpose
from tests.keyvault.test_data_keys import consented
from tests.support import unique


@pytest.fixture
def consent_gate(consent_channel) -> ConsentGate:
    return ConsentGate(consent_channel)


async def test_gate_allows_after_a_grant_and_denies_after_withdrawal(admin, gate, consent_gate):
    subject, purpose = await consented(admin, gate)
    granted = await consent_gate.allows(subject, purpose)

    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(subject_id=subject, purpose_id=purpose,
                                                          actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
                                                          idempotency_key=unique("wd")))
    withdrawn = await consent_gate.allows(subject, purpose)

    assert granted.allowed and granted.reason == "" and granted.consent_id
    assert withdrawn == Decision(allowed=False, reason="WITHDRAWN", consent_id=withdrawn.consent_id)


async def test_ensure_allowed_refuses_a_subject_who_never_consented(admin, consent_gate):
    p = await registered_purpose(admin)
    with pytest.raises(ConsentRefused) as refused:
        await consent_gate.ensure_allowed(unique("subj"), p.purpose_id)
    assert refused.value.reason == "NO_CONSENT"


async def test_a_dead_consent_address_answers_unavailable_instead_of_raising(dev_ca):
    files = dev_ca.issue_client("gate-app")
    channel = connect(f"localhost:{free_port()}", dev_ca.ca.cert, files.cert, files.key)
    try:
        decision = await ConsentGate(channel).allows(unique("subj"), "door-entry")
        with pytest.raises(ConsentRefused) as refused:
            await ConsentGate(channel).ensure_allowed(unique("subj"), "door-entry")
    finally:
        await channel.close()
    assert decision == Decision(allowed=False, reason="UNAVAILABLE")
    assert refused.value.reason == "UNAVAILABLE"


async def test_a_server_that_never_answers_times_out_to_unavailable(dev_ca):
    # Accepts the connection and stays silent, so the TLS handshake never completes.
    held = []
    silent = await asyncio.start_server(lambda reader, writer: held.append(writer), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    files = dev_ca.issue_client("gate-app")
    channel = connect(f"127.0.0.1:{port}", dev_ca.ca.cert, files.cert, files.key)
    try:
        decision = await asyncio.wait_for(ConsentGate(channel, timeout=0.3).allows(unique("subj"), "door-entry"), 5)
    finally:
        await channel.close()
        silent.close()
    assert decision == Decision(allowed=False, reason="UNAVAILABLE")
