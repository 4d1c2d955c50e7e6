"""The one table from dsr errors to gRPC status codes."""

import grpc

from services.common.error_table import error_table
from services.dsr.domain import errors

status_for = error_table([
    (errors.RequestNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.InvalidTransition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ExtensionRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.AcknowledgementRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.RejectionRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ExportUnavailable, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ExportNotReleased, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ExportReleaseRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.UpstreamUnavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.UpstreamRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ProcessorNotFound, grpc.StatusCode.NOT_FOUND),
    (errors.NotAProcessorName, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.NotAControllersClient, grpc.StatusCode.FAILED_PRECONDITION),
], "request store")
