"""What the portal refuses, in words a person can act on (the web layer shows them translated)."""


class PortalError(Exception):
    """Base class."""


class LinkNotValid(PortalError):
    """A sign-in link that was never issued, was used already, or has expired: the three look alike,
    so a guess learns nothing."""


class PlatformUnavailable(PortalError):
    """The platform did not answer; nothing was changed."""


class Refused(PortalError):
    """The platform refused a change; `reason` is its machine-readable reason (e.g. NOTICE_OUTDATED)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotFound(PortalError):
    """A purpose the controller does not have."""


class LinkExpired(PortalError):
    """A link to an export that is past its few minutes, or from another session."""
