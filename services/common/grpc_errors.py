"""Turning errors into gRPC statuses: clear messages, field details, never a stack trace."""

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.validation import FieldViolation


def _status(code: grpc.StatusCode, message: str, violations: list[FieldViolation]) -> grpc.Status:
    status = status_pb2.Status(code=getattr(code_pb2, code.name), message=message)
    if violations:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=str(v), reason=v.rule)
            for v in violations
        ]))
        status.details.append(detail)
    return rpc_status.to_status(status)


async def abort(
    context: grpc.aio.ServicerContext,
    code: grpc.StatusCode,
    message: str,
    violations: list[FieldViolation] | None = None,
) -> None:
    await context.abort_with_status(_status(code, message, violations or []))


def field_violations(error: grpc.aio.AioRpcError) -> list[tuple[str, str]]:
    """(field, rule) pairs of an INVALID_ARGUMENT error's BadRequest details, for clients and tests."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: list[tuple[str, str]] = []
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found += [(v.field, v.reason) for v in bad.field_violations]
    return found
