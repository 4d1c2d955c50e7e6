"""An event that would destroy data is acted on only once its source of truth confirms it: a
withdrawal someone put on consent.events, with a credential the broker accepts but in the name of
the consent service, opens no request and deletes nothing, and the dsr log says so; the genuine
withdrawal right behind it does its work."""

import asyncio
import uuid

import pytest
from google.protobuf import any_pb2

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import events_pb2
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.events.v1 import envelope_pb2
from services.common.topics import CONSENT_EVENTS
from tests.consent.builders import CONTROLLER, check
from tests.dsr.test_processor_identity import send_as
from tests.dsr.test_processors import enrolled, opened_and_completed, register

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


def forged_withdrawal(subject: str, purpose: str) -> envelope_pb2.EventEnvelope:
    payload = any_pb2.Any()
    payload.Pack(events_pb2.ConsentWithdrawn(consent=cpb.Consent(subject_id=subject, purpose_id=purpose,
                                                                 jurisdiction="CN"), reason="forged"))
    return envelope_pb2.EventEnvelope(event_id=str(uuid.uuid4()), type="consent.withdrawn", producer="consent",
                                      sequence=1, subject_id=subject, payload=payload)


async def test_a_forged_withdrawal_deletes_nothing_and_is_logged(admin, gate, dsr, operator, kafka, dev_ca, face_gates,
                                                                 capsys, backend):
    gates, _ = face_gates
    subject, (forged_purpose, genuine_purpose) = await enrolled(admin, gate, gates, purposes=2)
    await register(dsr, [forged_purpose, genuine_purpose])
    forged = forged_withdrawal(subject, forged_purpose)

    # Keyed by subject, as the consent service keys its events: the genuine one lands behind it.
    await send_as(kafka, dev_ca, "door-a", CONSENT_EVENTS, forged, key=subject)
    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=genuine_purpose, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
        reason="changed my mind", idempotency_key=f"wd-{subject}"))
    requests = await opened_and_completed(operator, subject)
    await asyncio.sleep(0.5)  # nothing more comes for the subject

    assert [(r.type, r.purpose_id) for r in requests] == [(pb.REQUEST_TYPE_WITHDRAWAL, genuine_purpose)]
    assert len((await operator.ListRequests(pb.ListRequestsRequest(controller_id=CONTROLLER, subject_id=subject))).requests) == 1
    for g in gates.values():
        assert await g.store.template(subject, forged_purpose) is not None
        assert await g.store.template(subject, genuine_purpose) is None
    assert (await gate.CheckConsent(check(subject, forged_purpose))).decision == cpb.DECISION_ALLOW
    log = capsys.readouterr().out
    assert "consent event not confirmed by the consent service: nothing opened" in log and forged.event_id in log
