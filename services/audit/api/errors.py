"""The one table from audit errors to gRPC status codes."""

import asyncpg
import grpc

from services.audit.domain import errors

STATUS_BY_ERROR: list[tuple[type[Exception], grpc.StatusCode]] = [
    (errors.BeyondTree, grpc.StatusCode.OUT_OF_RANGE),
    (errors.EmptyLog, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.SignerUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.KeyvaultUnavailable, grpc.StatusCode.UNAVAILABLE),
    (asyncpg.PostgresConnectionError, grpc.StatusCode.UNAVAILABLE),
    (asyncpg.InterfaceError, grpc.StatusCode.UNAVAILABLE),
    (OSError, grpc.StatusCode.UNAVAILABLE),
]
_STORE_DOWN = "audit store unavailable; nothing was changed, retry later"


def status_for(error: Exception) -> tuple[grpc.StatusCode, str] | None:
    for kind, code in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return code, str(error) if isinstance(error, errors.AuditError) else _STORE_DOWN
    return None
