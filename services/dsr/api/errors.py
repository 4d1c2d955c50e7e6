"""The one table from dsr errors to gRPC status codes."""

import asyncpg
import grpc

from services.common.idempotency import IdempotencyKeyReused
from services.dsr.domain import errors

STATUS_BY_ERROR: list[tuple[type[Exception], grpc.StatusCode]] = [
    (errors.RequestNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.InvalidTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ExtensionRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ExportUnavailable, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.UpstreamUnavailable, grpc.StatusCode.UNAVAILABLE),
    (IdempotencyKeyReused, grpc.StatusCode.FAILED_PRECONDITION),
    (asyncpg.PostgresConnectionError, grpc.StatusCode.UNAVAILABLE),
    (asyncpg.InterfaceError, grpc.StatusCode.UNAVAILABLE),
    (OSError, grpc.StatusCode.UNAVAILABLE),
]
_STORE_DOWN = "request store unavailable; nothing was changed, retry later"


def status_for(error: Exception) -> tuple[grpc.StatusCode, str] | None:
    for kind, code in STATUS_BY_ERROR:
        if isinstance(error, kind):
            own = isinstance(error, errors.DsrError | IdempotencyKeyReused)
            return code, str(error) if own else _STORE_DOWN
    return None
