"""What the client library raises: each error names a situation a face system must act on."""


class ConsentryClientError(Exception):
    """Base class of every error this library raises on purpose."""


class ConsentRefused(ConsentryClientError):
    """No valid consent for the subject and purpose: do not enrol, do not use the template."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"consent refused: {reason}")
        self.reason = reason


class SubjectErased(ConsentryClientError):
    """The subject's key was shredded: every template sealed under it is gone for good."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class CorruptTemplate(ConsentryClientError):
    """The sealed blob is malformed, altered, or belongs to another subject or purpose."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"corrupt template: {detail}")
