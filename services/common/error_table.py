"""A service's table from its own errors to gRPC status codes, with the rows every service shares:
a reused idempotency key, and a store that is restarting or unreachable (the client may retry;
nothing was applied). Authentication, authorization and validation are mapped in server.py.
Each error's reason (see grpc_errors.reason_of) and `metadata` go into the status's ErrorInfo."""

from collections.abc import Callable

import asyncpg
import grpc

from services.common.grpc_errors import Failure, reason_of
from services.common.idempotency import IdempotencyKeyReused
from services.common.watch import SubscriberTooSlow

STORE_DOWN = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)

ErrorTable = Callable[[Exception], Failure | None]


def error_table(own: list[tuple[type[Exception], grpc.StatusCode]], store: str) -> ErrorTable:
    """Own errors first (their messages are written for clients); None for an unexpected error."""
    rows = [*own, (IdempotencyKeyReused, grpc.StatusCode.FAILED_PRECONDITION),
            (SubscriberTooSlow, grpc.StatusCode.UNAVAILABLE)]
    unavailable = f"{store} unavailable; nothing was changed, retry later"

    def failure_for(error: Exception) -> Failure | None:
        for kind, code in rows:
            if isinstance(error, kind):
                return Failure(code, reason_of(error), str(error), metadata=dict(getattr(error, "metadata", {})))
        if isinstance(error, STORE_DOWN):
            return Failure(grpc.StatusCode.UNAVAILABLE, "STORE_UNAVAILABLE", unavailable)
        return None
    return failure_for
