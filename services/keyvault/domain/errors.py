"""Keyvault errors; the api layer maps each class to one gRPC status code, and the class name (in
UPPER_SNAKE_CASE) or its `reason` is the machine-readable reason clients decide on."""


class KeyVaultError(Exception):
    """Base class; the message is safe to show to the client and never holds key material."""


class SubjectErased(KeyVaultError):
    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject '{subject_id}' erased: its key was shredded and is never re-created")


# The consent service's deny reasons as keyvault reports them; SUBJECT_ERASED and UNAVAILABLE have
# errors of their own (SubjectErased, ConsentUnreachable).
_DENIALS = {"NO_CONSENT": "CONSENT_MISSING", "WITHDRAWN": "CONSENT_WITHDRAWN", "EXPIRED": "CONSENT_EXPIRED",
            "RENEWAL_REQUIRED": "CONSENT_RENEWAL_REQUIRED", "UNKNOWN_PURPOSE": "PURPOSE_UNKNOWN"}


class ConsentDenied(KeyVaultError):
    def __init__(self, deny_reason: str) -> None:
        super().__init__(f"consent check answered DENY ({deny_reason}): no key released")
        self.reason = _DENIALS.get(deny_reason, "CONSENT_DENIED")
        self.metadata = {"denyReason": deny_reason}


class DeviceStorageOnly(KeyVaultError):
    """Face data of this purpose stays on the device (Face Recognition Measures Art. 8): no key is
    released to store it on a server. Server storage needs a SERVER purpose and its own consent."""

    def __init__(self, purpose_id: str, storage_location: str) -> None:
        super().__init__(f"purpose '{purpose_id}' keeps face data on the device (storage location"
                         f" {storage_location}): no key released for server storage; that needs a purpose"
                         " with storage location SERVER and its own consent")
        self.metadata = {"storageLocation": storage_location}


class ConsentUnreachable(KeyVaultError):
    def __init__(self) -> None:
        super().__init__("consent service unreachable: no key released")


class VaultUnavailable(KeyVaultError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"key store unavailable ({detail}); nothing was changed, retry later")


class VaultRefused(KeyVaultError):
    """Vault answered but refused the request: a setup problem for the operator, not for the caller."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"key store refused the request ({detail}); nothing was changed")


class ShredContended(KeyVaultError):
    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject '{subject_id}' kept changing while being shredded; retry")


class KeyGenerationRetired(KeyVaultError):
    """The data key was issued under a consent that has ended since; its generation is destroyed."""

    def __init__(self, purpose_id: str) -> None:
        super().__init__(f"the data key was issued under a consent for purpose '{purpose_id}' that has ended"
                         " (withdrawn or expired); it can never be opened again: enrol anew")


class ConsentChanged(KeyVaultError):
    def __init__(self, purpose_id: str) -> None:
        super().__init__(f"the consent for purpose '{purpose_id}' changed while the key was being released; retry")


class WrongKeyMaterial(KeyVaultError):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field} was not made for this subject and purpose, or was altered")
        self.field = field


class NoSubjectKey(KeyVaultError):
    def __init__(self, subject_id: str) -> None:
        super().__init__(f"subject '{subject_id}' has no key")


class WrappedKeyUnusable(KeyVaultError):
    """Vault refuses to unwrap, e.g. because the KEK version it was wrapped under was trimmed."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"subject key can no longer be unwrapped: {detail}")


class KekNotProvisioned(KeyVaultError):
    """Vault refused the service the controller's KEK: it was never provisioned, or the controller was
    offboarded. An operator's setup step, not the caller's mistake."""

    def __init__(self, controller_id: str) -> None:
        super().__init__(f"Vault refused the service the key-encryption key of controller '{controller_id}': an"
                         f" operator provisions it (consentry provision kek --controller {controller_id}), or the"
                         " service's token lacks its policy; nothing was changed")
        self.metadata = {"controllerId": controller_id}


class ControllerOffboarded(KeyVaultError):
    """Every key of the controller's subjects was destroyed with its KEK: none is made again."""

    def __init__(self, controller_id: str) -> None:
        super().__init__(f"controller '{controller_id}' was offboarded: its keys were destroyed and no key is made"
                         " for it again")
        self.metadata = {"controllerId": controller_id}


class DefaultControllerStays(KeyVaultError):
    """The default controller's KEK wraps the keys from before controllers, some of which keyvault can
    only name by the person's id: it cannot destroy them all at once."""

    def __init__(self, controller_id: str) -> None:
        super().__init__(f"controller '{controller_id}' is the default controller (erasure_key.default_controller):"
                         " its keys from before controllers cannot be destroyed at once; erase its subjects one by"
                         " one")


class NoKek(KeyVaultError):
    def __init__(self, backend: str) -> None:
        super().__init__(f"the {backend} backend has no key-encryption key to rotate")
