"""The one table from the consent service's errors to gRPC status codes (authentication,
authorization and validation errors are mapped alike for every service in common/server.py)."""

import asyncpg
import grpc

from services.common.idempotency import IdempotencyKeyReused
from services.consent.domain import errors

STATUS_BY_ERROR: list[tuple[type[Exception], grpc.StatusCode]] = [
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.Conflict, grpc.StatusCode.ALREADY_EXISTS),
    (errors.PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION),
    (IdempotencyKeyReused, grpc.StatusCode.FAILED_PRECONDITION),
    # The store is restarting or unreachable: the client may retry; nothing was applied.
    (asyncpg.PostgresConnectionError, grpc.StatusCode.UNAVAILABLE),
    (asyncpg.InterfaceError, grpc.StatusCode.UNAVAILABLE),
    (OSError, grpc.StatusCode.UNAVAILABLE),
    (TimeoutError, grpc.StatusCode.UNAVAILABLE),
]
UNAVAILABLE_MESSAGE = "consent store unavailable; nothing was changed, retry later"


def status_for(error: Exception) -> tuple[grpc.StatusCode, str] | None:
    """The status and the client-safe message for an error, or None for an unexpected one."""
    for kind, code in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return code, UNAVAILABLE_MESSAGE if code is grpc.StatusCode.UNAVAILABLE else str(error)
    return None
