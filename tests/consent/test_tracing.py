"""A caller's W3C trace context follows its change onto Kafka, so one trace spans gRPC and events."""

import asyncio

from tests.consent.builders import grant, registered_purpose
from tests.consent.test_grants_together import queued_together, transactions
from tests.support import read_events, unique

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_event_carries_the_trace_of_the_call_that_caused_it(admin, gate, kafka, consent_events):
    p = await registered_purpose(admin)
    subject = unique("subj")

    await gate.GrantConsent(grant(subject, p.purpose_id),
                            metadata=[("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01")])

    events = await read_events(kafka, "consent.events", opener=consent_events,
                               until=lambda evs: any(e.subject_id == subject for e in evs))
    granted = next(e for e in events if e.subject_id == subject)
    assert granted.traceparent.split("-")[1] == TRACE_ID


async def test_grants_committed_together_each_carry_their_own_callers_trace(admin, gate, postgres, kafka,
                                                                          consent_events):
    p = await registered_purpose(admin)
    traces = {unique("subj"): f"{n:032x}" for n in range(1, 9)}

    async with queued_together(postgres, gate, p.purpose_id):
        calls = [asyncio.ensure_future(gate.GrantConsent(grant(subject, p.purpose_id), metadata=[
            ("traceparent", f"00-{trace}-00f067aa0ba902b7-01")])) for subject, trace in traces.items()]
    await asyncio.gather(*calls)

    assert len(set((await transactions(postgres, list(traces), p.purpose_id)).values())) == 1  # one commit
    events = await read_events(kafka, "consent.events", opener=consent_events,
                               until=lambda evs: set(traces) <= {e.subject_id for e in evs})
    assert {e.subject_id: e.traceparent.split("-")[1] for e in events if e.subject_id in traces} == traces
