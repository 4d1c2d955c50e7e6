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


class AddressNotValid(PortalError):
    """Text that is not an e-mail address."""


class CodeNotValid(PortalError):
    """A sign-in code's challenge that was never issued, was used, expired or is locked after five wrong
    tries: alike, so a guess learns nothing. `tries_left` > 0: the code was wrong, the challenge lives."""

    def __init__(self, tries_left: int = 0) -> None:
        super().__init__(tries_left)
        self.tries_left = tries_left


class StaffSignInFailed(PortalError):
    """A wrong name, password or code, or a locked account: alike, so a guess learns nothing."""


class StaffAccountExists(PortalError):
    """An account of that name exists already; it was left as it is."""

    reason = "STAFF_ACCOUNT_EXISTS"

    def __init__(self, name: str) -> None:
        super().__init__(f"a console account named '{name}', or bound to that identity provider subject, exists"
                         " already; it was left as it is")


class StaffAccountNotFound(PortalError):
    reason = "STAFF_ACCOUNT_NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"there is no console account named '{name}'")


class NotPermitted(PortalError):
    """The signed-in staff member's role may not do this (an auditor changes nothing)."""


class ControllerRequired(PortalError):
    """The platform's staff act on a purpose in a controller they must name."""
