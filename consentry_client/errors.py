"""What the client library raises: each error names a situation a face system must act on. The
library decides on the machine-readable reason every Consentry error status carries
(google.rpc.ErrorInfo), never on the text of a message."""

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    """The status's ErrorInfo: `reason` ("CONSENT_WITHDRAWN", "SUBJECT_ERASED", ...), `domain` (the
    service's proto package) and `metadata`; empty when the status has none (e.g. a transport error)."""
    status = rpc_status.from_call(error)
    for detail in status.details if status else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return error_details_pb2.ErrorInfo()


class ConsentryClientError(Exception):
    """Base class of every error this library raises on purpose."""


class ConsentRefused(ConsentryClientError):
    """No valid consent for the subject and purpose: do not enrol, do not use the template."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"consent refused: {reason}")
        self.reason = reason


class DeviceStorageOnly(ConsentryClientError):
    """The purpose keeps face data on the device (Face Recognition Measures Art. 8): keyvault releases
    no key to store it on a server. Keep the template on the device, or store it under a purpose whose
    storage location is SERVER, with the person's own consent to that purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class SubjectErased(ConsentryClientError):
    """The subject's key was shredded: every template sealed under it is gone for good."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class TemplateRetired(ConsentryClientError):
    """The template was sealed under a consent that has ended since (withdrawn or expired): its key is
    destroyed, and a new consent does not bring it back. Delete it; enrol the person again if they
    consent now."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class CorruptTemplate(ConsentryClientError):
    """The sealed blob is malformed, altered, or belongs to another subject or purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"corrupt template: {detail}")


class UseNotRecorded(ConsentryClientError):
    """A key kept in memory could not be accounted to keyvault, so the template was not opened (no use
    goes unaudited). Retry; it goes to keyvault if memory cannot be used."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"use not recorded: {detail}")
