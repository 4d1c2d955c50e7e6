"""The one table from audit errors to gRPC status codes."""

import grpc

from services.audit.domain import errors
from services.common.error_table import error_table

status_for = error_table([
    (errors.BeyondTree, grpc.StatusCode.OUT_OF_RANGE),
    (errors.LeafNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.EmptyLog, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NotSigned, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.SignerUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.KeyvaultUnavailable, grpc.StatusCode.UNAVAILABLE),
], "audit store")
