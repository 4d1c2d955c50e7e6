"""Domain errors. The api layer maps each class to one gRPC status code, in one table."""


class ConsentError(Exception):
    """Base class; the message is safe to show to the client."""


class NotFound(ConsentError):
    pass


class Conflict(ConsentError):
    pass


class PreconditionFailed(ConsentError):
    pass


class ReceiptRefused(ConsentError):
    """A receipt handed back to be shown that is not, byte for byte, one this service signed."""


class ReceiptKeyUnknown(ReceiptRefused):
    def __init__(self, key_id: str, known: str) -> None:
        super().__init__(f"receipt key '{key_id}' is not this service's receipt key '{known}'")
        self.metadata = {"receipt_key_id": known}


class ReceiptSignatureInvalid(ReceiptRefused):
    def __init__(self) -> None:
        super().__init__("the signature does not verify over receipt_json: the receipt was altered or"
                         " not signed by this service")


class ReceiptMalformed(ReceiptRefused):
    def __init__(self, problem: str) -> None:
        super().__init__(f"receipt_json is not a consent receipt this service can show: {problem}")


class PurposeNotFound(NotFound):
    def __init__(self, purpose_id: str) -> None:
        super().__init__(f"purpose '{purpose_id}' does not exist")


class PurposeExists(Conflict):
    def __init__(self, purpose_id: str) -> None:
        super().__init__(f"purpose '{purpose_id}' already exists")


class ControllerNotFound(NotFound):
    """Also the answer for another controller's id: a client never learns which ids exist beyond its own."""

    def __init__(self, controller_id: str) -> None:
        super().__init__(f"controller '{controller_id}' does not exist")


class ControllerRequired(PreconditionFailed):
    """An operator's call about a purpose id that several controllers use, naming none of them."""
    reason = "CONTROLLER_REQUIRED"

    def __init__(self, purpose_id: str) -> None:
        super().__init__(f"purpose id '{purpose_id}' is used by more than one controller: name the controller"
                         " (controller_id)")
        self.metadata = {"purpose_id": purpose_id}


class ControllerExists(Conflict):
    def __init__(self, controller_id: str) -> None:
        super().__init__(f"controller '{controller_id}' is already registered with other details")


class ControllerNotRegistered(PreconditionFailed):
    reason = "CONTROLLER_NOT_REGISTERED"

    def __init__(self, controller_id: str) -> None:
        super().__init__(f"controller '{controller_id}' is not registered: an operator registers it first"
                         " (ConsentAdminService.RegisterController)")
        self.metadata = {"controller_id": controller_id}


class ConsentNotFound(NotFound):
    def __init__(self, subject_id: str, purpose_id: str) -> None:
        super().__init__(f"no consent of subject '{subject_id}' for purpose '{purpose_id}'")


class NoticeNotFound(PreconditionFailed):
    def __init__(self, purpose_id: str, version: int, language: str) -> None:
        super().__init__(f"purpose '{purpose_id}' has no notice version {version} in language '{language}'")


class NoticeOutdated(PreconditionFailed):
    def __init__(self, purpose_id: str, version: int, current: int) -> None:
        super().__init__(f"notice version {version} of purpose '{purpose_id}' is outdated;"
                         f" the person must be shown version {current}")


class NoticeHashMismatch(PreconditionFailed):
    def __init__(self, purpose_id: str, version: int, language: str) -> None:
        super().__init__(f"notice_hash does not match notice version {version} ({language}) of purpose"
                         f" '{purpose_id}': the person did not see the published text")


class GuardianConsentRequired(PreconditionFailed):
    def __init__(self, age: int, drawn_by: str, jurisdiction: str, purpose_minimum: int) -> None:
        # A purpose's minimum below the jurisdiction's line is no error of its own: it simply doesn't lower it.
        lower = (f"; the purpose's minimum age of {purpose_minimum} does not lower the line of {jurisdiction}"
                 if 0 < purpose_minimum < age else "")
        super().__init__(f"subject is under {age} ({drawn_by}): a guardian with a verification reference"
                         f" must grant{lower}")
        self.metadata = {"jurisdiction": jurisdiction, "guardian_age": str(age)}


class WrittenReleaseRequired(PreconditionFailed):
    def __init__(self, jurisdiction: str) -> None:
        super().__init__(f"in {jurisdiction} biometrics need a written release signed by the subject (BIPA 15(b)):"
                         " collection_method PAPER_SIGNED or E_SIGNATURE, and evidence_ref naming the signed release")
        self.metadata = {"jurisdiction": jurisdiction}


class SubjectErased(PreconditionFailed):
    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject '{subject_id}' has been erased")


class ConsentNotActive(PreconditionFailed):
    def __init__(self, subject_id: str, purpose_id: str, state: str) -> None:
        super().__init__(f"consent of subject '{subject_id}' for purpose '{purpose_id}' is {state}, not active")


class NoNoticePublished(PreconditionFailed):
    def __init__(self, purpose_id: str) -> None:
        super().__init__(f"purpose '{purpose_id}' has no published notice yet")
