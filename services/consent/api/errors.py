"""The one table from the consent service's errors to gRPC status codes."""

import grpc

from services.common.error_table import error_table
from services.consent.domain import errors

status_for = error_table([
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.Conflict, grpc.StatusCode.ALREADY_EXISTS),
    (errors.PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ReceiptRefused, grpc.StatusCode.INVALID_ARGUMENT),
], "consent store")
