"""The baseline server: `python -m bench.consent.echo --port P [--tls CERT KEY CLIENT_CA]`.

A bare grpc.aio server that answers the consent RPCs the benchmark uses with canned responses of
the same message types, so the load generator runs identical code against it and against the
consent service, and the payload sizes match. It parses each request (as any server must) but does
no other work: the gap between the two is what the consent service costs on top of gRPC itself.
It answers audit's GetInclusionProof too, with a proof of a million-entry log's size (not a valid
one): the audit section's reference for gRPC's own round trip, one call at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import uuid
from pathlib import Path

import grpc
from google.protobuf import timestamp_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from consentry.audit.v1 import audit_pb2
from consentry.consent.v1 import consent_pb2 as pb

UNKNOWN_PREFIX = "unknown-"  # subjects nobody granted: DENY/NO_CONSENT, as the service answers them
SERVICE = pb.DESCRIPTOR.services_by_name["ConsentService"].full_name
AUDIT_SERVICE = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name
PROOF_HASHES = 20  # an audit path in a tree of 1,000,000 leaves
RECEIPT_BYTES = 1200  # about the size of a real canonical-JSON receipt

ALLOW = pb.CheckConsentResponse(decision=pb.DECISION_ALLOW, consent_id=str(uuid.uuid4()), notice_version=1)
DENY = pb.CheckConsentResponse(decision=pb.DECISION_DENY, reason=pb.DENY_REASON_NO_CONSENT)


def _answer(request: pb.CheckConsentRequest) -> pb.CheckConsentResponse:
    return DENY if request.subject_id.startswith(UNKNOWN_PREFIX) else ALLOW


async def check(request: pb.CheckConsentRequest, _context: grpc.aio.ServicerContext) -> pb.CheckConsentResponse:
    return _answer(request)


async def check_many(request: pb.CheckConsentsRequest, _context: grpc.aio.ServicerContext) -> pb.CheckConsentsResponse:
    return pb.CheckConsentsResponse(results=[_answer(c) for c in request.checks])


async def grant(request: pb.GrantConsentRequest, _context: grpc.aio.ServicerContext) -> pb.GrantConsentResponse:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    consent = pb.Consent(
        consent_id=str(uuid.uuid4()), subject_id=request.subject_id, purpose_id=request.purpose_id,
        controller_id="bench-campus", state=pb.CONSENT_STATE_GIVEN, notice_version=request.notice_version,
        notice_language=request.notice_language, notice_hash=request.notice_hash,
        jurisdiction=request.jurisdiction, collection_method=request.collection_method,
        evidence_ref=request.evidence_ref, actor=request.actor, subject_age=request.subject_age,
        alternative_offered=request.alternative_offered, granted_at=now, expires_at=now,
        last_interaction_at=now, updated_at=now,
    )
    receipt = pb.ConsentReceipt(receipt_json=b"{" + b"x" * (RECEIPT_BYTES - 2) + b"}", signature=b"s" * 64,
                                key_id="bench")
    return pb.GrantConsentResponse(consent=consent, receipt=receipt)


async def inclusion_proof(request: audit_pb2.GetInclusionProofRequest, _context: grpc.aio.ServicerContext
                          ) -> audit_pb2.GetInclusionProofResponse:
    return audit_pb2.GetInclusionProofResponse(leaf_index=request.leaf_index, tree_size=request.tree_size,
                                               leaf_hash=bytes(32), hashes=[bytes(32)] * PROOF_HASHES)


def _handler(fn, request_type) -> grpc.RpcMethodHandler:  # noqa: ANN001 - grpc's handler types are untyped
    return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=request_type.FromString,
                                               response_serializer=lambda m: m.SerializeToString())


async def serve(port: int, tls: tuple[Path, Path, Path] | None) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, {
        "CheckConsent": _handler(check, pb.CheckConsentRequest),
        "CheckConsents": _handler(check_many, pb.CheckConsentsRequest),
        "GrantConsent": _handler(grant, pb.GrantConsentRequest),
    }), grpc.method_handlers_generic_handler(AUDIT_SERVICE, {
        "GetInclusionProof": _handler(inclusion_proof, audit_pb2.GetInclusionProofRequest),
    })])
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    address = f"127.0.0.1:{port}"
    if tls is None:
        server.add_insecure_port(address)
    else:
        cert, key, client_ca = (p.read_bytes() for p in tls)
        # The same mTLS set-up as the consent service: same CA, client certificate required.
        server.add_secure_port(address, grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=client_ca, require_client_auth=True))
    await server.start()
    await checker.set("", health_pb2.HealthCheckResponse.SERVING)
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.stop(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.consent.echo")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tls", nargs=3, type=Path, metavar=("CERT", "KEY", "CLIENT_CA"))
    parser.add_argument("--event-loop", choices=["asyncio", "uvloop"], default="asyncio",
                        help="the same loop as the service under test, so the ratio measures only its work")
    args = parser.parse_args()
    server = serve(args.port, tuple(args.tls) if args.tls else None)
    if args.event_loop == "uvloop":
        import uvloop
        uvloop.run(server)
    else:
        asyncio.run(server)


if __name__ == "__main__":
    main()
