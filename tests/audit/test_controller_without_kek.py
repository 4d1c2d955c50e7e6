"""A controller whose KEK no operator has provisioned yet has no subject keys, so keyvault gives its
subjects no reference: the log records their entries without one (and says so in a warning) rather
than stopping for every controller until the operator acts."""

import asyncio
import json

import pytest

from consentry.audit.v1 import audit_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from tests.audit.test_log import entries_of
from tests.consent.builders import grant, registered_controller, registered_purpose
from tests.keyvault.test_data_keys import consented
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


async def _granted_at(dpo, controller: str, timeout: float = 20.0) -> list[dict]:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while True:
            answer = await dpo.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(
                controller_id=controller, type="consent.granted")))
            if answer.entries:
                return [json.loads(e.entry_json) for e in answer.entries]
            await asyncio.sleep(0.1)


async def test_a_controller_without_a_kek_does_not_stop_the_log(admin, gate, face, kv_admin, consent_admin, dpo,
                                                                backend):
    newcomer = (await registered_controller(consent_admin, unique("no-kek"))).controller_id
    purpose = (await registered_purpose(admin, controller_id=newcomer)).purpose_id
    await admin.GrantConsent(grant(unique("person"), purpose))  # an event about a subject keyvault cannot key
    status = await kv_admin.GetSubjectRefs(kpb.GetSubjectRefsRequest(subject_ids=["x"], controller_id=newcomer))
    subject, campus_purpose = await consented(admin, gate)  # then another controller's

    campus = await entries_of(dpo, subject, kind="consent.granted")
    unreferenced = await _granted_at(dpo, newcomer)

    assert status.refs[0].state == kpb.KEY_STATE_ABSENT  # no key at the newcomer, none made by asking
    assert [e["controllerId"] for e in campus] == ["acme-campus"] and len(campus[0]["subjectRef"]) == 64
    assert [(e["controllerId"], e.get("subjectRef", "")) for e in unreferenced] == [(newcomer, "")]
