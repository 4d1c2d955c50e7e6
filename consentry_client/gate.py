"""The enrolment gate: ask the consent service before touching a face, and treat silence as a no."""

import logging
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import grpc

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from consentry_client.errors import ConsentRefused

log = logging.getLogger(__name__)

UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Empty when allowed; otherwise a DenyReason name without its prefix ("WITHDRAWN", "UNAVAILABLE").
    reason: str
    consent_id: str = ""


def connect(address: str, ca: str | PathLike, cert: str | PathLike, key: str | PathLike) -> grpc.aio.Channel:
    """An mTLS channel: the CA verifies the server, the certificate and key identify this face system."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes(),
        private_key=Path(key).read_bytes(),
        certificate_chain=Path(cert).read_bytes(),
    )
    return grpc.aio.secure_channel(address, credentials)


class ConsentGate:
    def __init__(self, channel: grpc.aio.Channel, *, timeout: float = 2.0) -> None:
        self._stub = consent_pb2_grpc.ConsentServiceStub(channel)
        self._timeout = timeout

    async def allows(self, subject_id: str, purpose_id: str) -> Decision:
        """Never raises for transport problems: a check that cannot be answered is a DENY."""
        request = pb.CheckConsentRequest(subject_id=subject_id, purpose_id=purpose_id)
        try:
            answer = await self._stub.CheckConsent(request, timeout=self._timeout)
        except (grpc.RpcError, grpc.aio.UsageError, TimeoutError) as error:
            code = error.code().name if isinstance(error, grpc.aio.AioRpcError) else type(error).__name__
            log.warning("consent check failed (%s); denying", code)
            return Decision(allowed=False, reason=UNAVAILABLE)
        if answer.decision == pb.DECISION_ALLOW:
            return Decision(allowed=True, reason="", consent_id=answer.consent_id)
        return Decision(allowed=False, reason=_reason_name(answer.reason), consent_id=answer.consent_id)

    async def ensure_allowed(self, subject_id: str, purpose_id: str) -> Decision:
        decision = await self.allows(subject_id, purpose_id)
        if not decision.allowed:
            raise ConsentRefused(decision.reason)
        return decision


def _reason_name(reason: int) -> str:
    # A reason added to the proto after this library was built still denies, just less specifically.
    try:
        return pb.DenyReason.Name(reason).removeprefix("DENY_REASON_")
    except ValueError:
        return "UNSPECIFIED"
