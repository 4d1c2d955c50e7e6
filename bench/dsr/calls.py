"""What the dsr section asks of the load-generator process: the picklable specs, the subjects' names,
and the operator's calls (SubmitRequest, then VerifyIdentity, as a DPO's desk would after checking an
identity document), with the server-side times read back from a request's timeline.

The rounds themselves: `rounds` (10,000 deletions at a bounded concurrency; one deletion at a
time) and `setup` (consent and enrolment at both gates, not measured).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench.common.load import CALL_TIMEOUT_S, CallFailed, Target
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry_client import connect
from consentry_dev.policy import DEMO_CONTROLLER

JURISDICTION = "CN"
SETTLED = (pb.REQUEST_STATUS_COMPLETED, pb.REQUEST_STATUS_PARTIALLY_COMPLETED, pb.REQUEST_STATUS_REJECTED)
# What VerifyIdentity may answer: the orchestrator may already have picked the request up.
AFTER_VERIFY = (pb.REQUEST_STATUS_VERIFIED, pb.REQUEST_STATUS_IN_PROGRESS, pb.REQUEST_STATUS_COMPLETED)


@dataclass(frozen=True)
class Endpoints:
    """A dsr section's stack as the generator reaches it: the operator's targets (client "admin"),
    and what each face gate uses (its own certificate, its own database)."""

    dsr: Target
    consent: Target
    keyvault: Target
    gate_tls: dict[str, tuple[Path, Path, Path]]  # gate -> (CA, its certificate, its key)
    gate_dsns: dict[str, str]
    purpose: str

    def gate_channel(self, service: str, gate: str) -> grpc.aio.Channel:
        """A channel to consent or keyvault as the gate `gate` (its certificate)."""
        ca, cert, key = self.gate_tls[gate]
        port = {"consent": self.consent.port, "keyvault": self.keyvault.port}[service]
        return connect(f"127.0.0.1:{port}", ca=ca, cert=cert, key=key)


@dataclass(frozen=True)
class DsrRoundSpec:
    scenario: str  # "bulk" (count-bounded, `concurrency` submissions in flight) or "latency" (one at a time)
    endpoints: Endpoints
    subjects: tuple[str, ...]  # one deletion each, in this order
    concurrency: int = 64
    max_s: float = 900.0  # the round fails (requests not COMPLETED) after this long
    rng_seed: int = 0
    cpu_roots: dict[str, int] = field(default_factory=dict)


def subject(kind: str, n: int) -> str:
    """kind: "bulk<round>", "lat<round>", "warm", ... (a prefix keeps one stack's subjects from another's)."""
    return f"dsr-{kind}-{n:06d}"


def submit_request(subject_id: str) -> pb.SubmitRequestRequest:
    return pb.SubmitRequestRequest(
        type=pb.REQUEST_TYPE_DELETION, subject_id=subject_id, jurisdiction=JURISDICTION, controller_id=DEMO_CONTROLLER,
        evidence=pb.IdentityEvidence(method="in-person-id-check", reference=f"bench-desk/{subject_id}"),
        idempotency_key=f"bench-submit-{subject_id}")


async def delete(stub: dsr_pb2_grpc.DsrServiceStub, subject_id: str) -> tuple[str, float]:
    """SubmitRequest, then VerifyIdentity at once; (request id, wall-clock time the submission began)."""
    began = time.time()
    submitted = (await stub.SubmitRequest(submit_request(subject_id), timeout=CALL_TIMEOUT_S)).request
    if submitted.status != pb.REQUEST_STATUS_VERIFICATION_PENDING:
        raise CallFailed(f"submitted: {pb.RequestStatus.Name(submitted.status)}")
    verified = (await stub.VerifyIdentity(pb.VerifyIdentityRequest(
        request_id=submitted.request_id, verified=True, note="identity document checked at the desk",
        idempotency_key=f"bench-verify-{submitted.request_id}"), timeout=CALL_TIMEOUT_S)).request
    if verified.status not in AFTER_VERIFY:
        raise CallFailed(f"verified: {pb.RequestStatus.Name(verified.status)}")
    return submitted.request_id, began


def stamped(r: pb.Request, status: int) -> float | None:
    """Wall-clock time (s) the service recorded `status` in the request's timeline, or None."""
    for entry in r.timeline:
        if entry.status == status:
            return entry.at.seconds + entry.at.nanos / 1e9
    return None


def stages(r: pb.Request, began: float) -> dict[str, float]:
    """Where a completed request's time went (ms), from its timeline: submission and verification
    (the operator's two calls), waiting for and doing Consentry's own part (consents erased, key
    shredded, tasks created: VERIFIED to IN_PROGRESS), and the processors (IN_PROGRESS to COMPLETED:
    tasks sent, deleted at each gate, results read back)."""
    verified, started, completed = (stamped(r, s) for s in (pb.REQUEST_STATUS_VERIFIED, pb.REQUEST_STATUS_IN_PROGRESS,
                                                            pb.REQUEST_STATUS_COMPLETED))
    if None in (verified, started, completed):
        return {}
    return {"to_verified": 1000 * (verified - began), "own_part": 1000 * (started - verified),
            "processors": 1000 * (completed - started)}


def resent(r: pb.Request) -> int:
    """Tasks of the request that were sent more than once (not confirmed within the timeout)."""
    return sum(t.attempts > 1 for t in r.tasks)
