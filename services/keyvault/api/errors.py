"""The one table from keyvault errors to gRPC status codes."""

import asyncpg
import grpc

from services.keyvault.domain import errors

STATUS_BY_ERROR: list[tuple[type[Exception], grpc.StatusCode]] = [
    (errors.ConsentDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.ConsentUnreachable, grpc.StatusCode.UNAVAILABLE),
    (errors.SubjectErased, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NoSubjectKey, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NoKek, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.WrongKeyMaterial, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.VaultUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.WrappedKeyUnusable, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.VaultRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ShredContended, grpc.StatusCode.ABORTED),
    (asyncpg.PostgresConnectionError, grpc.StatusCode.UNAVAILABLE),
    (asyncpg.InterfaceError, grpc.StatusCode.UNAVAILABLE),
    (OSError, grpc.StatusCode.UNAVAILABLE),
]
_STORE_DOWN = "key store unavailable; nothing was changed, retry later"


def status_for(error: Exception) -> tuple[grpc.StatusCode, str] | None:
    for kind, code in STATUS_BY_ERROR:
        if isinstance(error, kind):
            own = isinstance(error, errors.KeyVaultError)
            return code, str(error) if own else _STORE_DOWN
    return None
