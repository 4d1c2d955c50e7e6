"""DSR errors; the api layer maps each class to one gRPC status code."""


class DsrError(Exception):
    """Base class; the message is safe to show to the client."""


class RequestNotFound(DsrError):
    def __init__(self, request_id: str) -> None:
        super().__init__(f"no request '{request_id}'")


class InvalidTransition(DsrError):
    def __init__(self, request_id: str, current: str, wanted: str) -> None:
        super().__init__(f"request '{request_id}' is {current}: it cannot become {wanted}")


class ExtensionRefused(DsrError):
    def __init__(self, why: str) -> None:
        super().__init__(f"the deadline cannot be extended: {why}")


class AcknowledgementRefused(DsrError):
    def __init__(self, request_id: str, why: str) -> None:
        super().__init__(f"request '{request_id}' cannot be acknowledged: {why}")


class RejectionRefused(DsrError):
    def __init__(self, request_id: str, why: str) -> None:
        super().__init__(f"request '{request_id}' cannot be rejected: {why}")


class ExportUnavailable(DsrError):
    def __init__(self, request_id: str, why: str) -> None:
        super().__init__(f"request '{request_id}' has no export: {why}")


class ExportNotReleased(DsrError):
    """Staff have not yet reviewed and released the export: a client acting for the person gets none."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"the export of request '{request_id}' is being reviewed; it is given to the person once"
                         " it is released")


class ExportReleaseRefused(DsrError):
    def __init__(self, request_id: str, why: str) -> None:
        super().__init__(f"the export of request '{request_id}' cannot be released: {why}")


class UpstreamUnavailable(DsrError):
    def __init__(self, service: str) -> None:
        super().__init__(f"{service} unreachable; the request goes on when it is back")


class UpstreamRefused(DsrError):
    """Another service refused a step; the request shows why and the step is tried again later."""

    def __init__(self, service: str, code: str, details: str) -> None:
        super().__init__(f"{service} refused: {code} {details}")
        self.code = code


class ProcessorNotFound(DsrError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no processor '{name}'")


class NotAProcessorName(DsrError):
    """The caller's identity cannot be a processor's name (it names Kafka topics)."""

    def __init__(self, client_id: str) -> None:
        super().__init__(f"client '{client_id}' cannot register as a processor: a processor's identity must be"
                         " 1-128 letters, digits and ._- (it names its Kafka topics)")


class NotAControllersClient(DsrError):
    """A processor serves one controller's subjects: an operator of the platform has none."""

    def __init__(self, client_id: str) -> None:
        super().__init__(f"client '{client_id}' cannot register as a processor: it is an operator of the platform,"
                         " and a processor must be a client of the one controller whose tasks it serves")
