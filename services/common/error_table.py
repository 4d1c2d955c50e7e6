"""A service's table from its own errors to gRPC status codes, with the rows every service shares:
a reused idempotency key, and a store that is restarting or unreachable (the client may retry;
nothing was applied). Authentication, authorization and validation are mapped in server.py."""

from collections.abc import Callable

import asyncpg
import grpc

from services.common.idempotency import IdempotencyKeyReused

STORE_DOWN = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)

ErrorTable = Callable[[Exception], tuple[grpc.StatusCode, str] | None]


def error_table(own: list[tuple[type[Exception], grpc.StatusCode]], store: str) -> ErrorTable:
    """Own errors first (their messages are written for clients); None for an unexpected error."""
    rows = [*own, (IdempotencyKeyReused, grpc.StatusCode.FAILED_PRECONDITION)]
    unavailable = f"{store} unavailable; nothing was changed, retry later"

    def status_for(error: Exception) -> tuple[grpc.StatusCode, str] | None:
        for kind, code in rows:
            if isinstance(error, kind):
                return code, str(error)
        if isinstance(error, STORE_DOWN):
            return grpc.StatusCode.UNAVAILABLE, unavailable
        return None
    return status_for
