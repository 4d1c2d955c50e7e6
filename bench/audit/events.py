"""What the audit section asks for: the picklable `AuditRoundSpec` the orchestrator hands the
load-generator process, and the events the benchmark puts in the log.

Every event is a `consent.withdrawn` envelope as the consent service's outbox relay publishes it
(EventEnvelope with a UUIDv7 id, producer, gap-free sequence, subject id as the Kafka key, a
ConsentWithdrawn payload packed in Any), for a subject of a fixed pool. The rounds themselves:
`audit_ingest` (Kafka to a signed checkpoint, and the naive consumer it is compared with) and
`audit_rounds` (proofs and VerifyLog, and the entry point the generator runs for every round);
`audit_rfc9162` checks what the service answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import uuid6
from google.protobuf import any_pb2

from bench.common.consents import NOTICE_HASH, PURPOSE_ID
from bench.common.load import KafkaClient, Target
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import events_pb2 as epb
from consentry.events.v1 import envelope_pb2

TOPIC = "bench.audit.events"  # the ingest rounds' topic: the only one the ingest audit process reads
PROOFS_TOPIC = "bench.audit-proofs.events"  # the proofs audit process reads this one: the large log's events
PRODUCER = "bench-events"  # envelope producer (sequences 1, 2, ... over all rounds of a topic)
EVENT_TYPE = "consent.withdrawn"
SUBJECT_PREFIX = "aud-subj-"
# Sequence q concerns subject q * SPREAD mod pool: consecutive events go to subjects far apart, and
# every subject gets its share.
SPREAD = 7919
INGEST_SCENARIOS = ("naive", "ingest")
LOAD_SCENARIOS = ("proof", "proof_lookup", "proof_echo")  # closed loop, warm-up + window
VERIFY_SCENARIOS = ("verify", "rehash")  # count-bounded: one pass over the log


@dataclass(frozen=True)
class AuditRoundSpec:
    scenario: str  # one of INGEST_SCENARIOS, LOAD_SCENARIOS, VERIFY_SCENARIOS
    dsn: str = ""  # naive: its own database; ingest: the audit database (polled); proof_lookup, rehash: the log's
    kafka: KafkaClient | None = None  # naive: how it reaches the broker (TLS, the client "bench")
    topic: str = TOPIC
    ranges: tuple[tuple[int, int, int], ...] = ()  # naive: (partition, first offset, end offset) of the round
    audit_pid: int = 0  # ingest: the audit process, stopped while the round's events were produced
    from_size: int = 0  # ingest: the tree size before the round
    events: int = 0  # naive, ingest: events in the round
    target: Target | None = None  # proof, verify: the audit service; proof_echo: the echo server
    tree_size: int = 0  # proof, proof_lookup: every proof is asked at this size; verify, rehash: the log's size
    public_key_pem: str = ""  # proof_lookup, rehash: verifies the checkpoint they read from the database
    concurrency: int = 16
    duration_s: float = 5.0
    warmup_s: float = 1.5
    max_s: float = 900.0  # a count-bounded round (ingest, verify) fails after this long
    rng_seed: int = 0
    subject_prefix: str = ""  # not used (run_interleaved sets it per round)
    cpu_roots: dict[str, int] = field(default_factory=dict)


def pool_subject(i: int) -> str:
    return f"{SUBJECT_PREFIX}{i:06d}"


def subject_of(sequence: int, subjects: int) -> str:
    return pool_subject(sequence * SPREAD % subjects)


def envelope(sequence: int, subject: str, producer: str = PRODUCER,
             at: datetime | None = None) -> envelope_pb2.EventEnvelope:
    """A consent.withdrawn event as the consent service publishes it (payload fields filled as a real
    withdrawal fills them, so entries are as long as real ones)."""
    now = at or datetime.now(UTC)
    consent = cpb.Consent(
        consent_id=str(uuid6.uuid7()), subject_id=subject, purpose_id=PURPOSE_ID, controller_id="bench-campus",
        state=cpb.CONSENT_STATE_WITHDRAWN, notice_version=1, notice_language="en", notice_hash=NOTICE_HASH,
        jurisdiction="CN", collection_method=cpb.COLLECTION_METHOD_APP_SCREEN, evidence_ref="bench-screen-tap",
        actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT), subject_age=30, alternative_offered=True)
    consent.granted_at.FromDatetime(now - timedelta(days=30))
    consent.updated_at.FromDatetime(now)
    payload = any_pb2.Any()
    payload.Pack(epb.ConsentWithdrawn(consent=consent, reason="benchmark withdrawal"))
    event = envelope_pb2.EventEnvelope(event_id=str(uuid6.uuid7()), type=EVENT_TYPE, producer=producer, sequence=sequence,
                                       subject_id=subject, payload=payload)
    event.occurred_at.FromDatetime(now)
    return event

