"""The one table from the portal's errors to gRPC status codes."""

import grpc

from services.common.error_table import error_table
from services.portal.domain import errors

status_for = error_table([
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.PlatformUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.StaffAccountExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.StaffAccountNotFound, grpc.StatusCode.NOT_FOUND),
], "portal store")
