"""Turning errors into gRPC statuses a program can read: every non-OK status carries a
`google.rpc.ErrorInfo` (a stable reason such as CONSENT_WITHDRAWN, the service's domain, metadata)
beside the human message, and `google.rpc.BadRequest` for field violations. Never a stack trace."""

import re
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.validation import FieldViolation


@dataclass(frozen=True)
class Failure:
    code: grpc.StatusCode
    reason: str
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def reason_of(error: Exception) -> str:
    """An error's own `reason`, or its class name in UPPER_SNAKE_CASE (PurposeNotFound: PURPOSE_NOT_FOUND).
    Reasons are part of the API: renaming an error class changes what clients see."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).upper()


def _packed(message) -> any_pb2.Any:
    detail = any_pb2.Any()
    detail.Pack(message)
    return detail


def to_status(failure: Failure, domain: str) -> grpc.Status:
    status = status_pb2.Status(code=getattr(code_pb2, failure.code.name), message=failure.message)
    status.details.append(_packed(error_details_pb2.ErrorInfo(reason=failure.reason, domain=domain,
                                                              metadata=failure.metadata)))
    if failure.violations:
        status.details.append(_packed(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=str(v), reason=v.rule)
            for v in failure.violations])))
    return rpc_status.to_status(status)


async def abort(context: grpc.aio.ServicerContext, failure: Failure, domain: str) -> None:
    await context.abort_with_status(to_status(failure, domain))


def field_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """(field, rule) pairs of an INVALID_ARGUMENT error's BadRequest details, for clients and tests."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: list[tuple[str, str]] = []
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found += [(v.field, v.reason) for v in bad.field_violations]
    return found
