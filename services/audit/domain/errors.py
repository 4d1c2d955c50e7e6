"""Audit errors; the api layer maps each class to one gRPC status code."""


class AuditError(Exception):
    """Base class; the message is safe to show to the client."""


class BeyondTree(AuditError):
    def __init__(self, what: str, value: int, tree_size: int) -> None:
        super().__init__(f"{what} {value} is beyond the signed tree (size {tree_size})")


class LeafNotFound(AuditError):
    """For a controller's client: a leaf that is not one of its controller's entries. The same
    answer whether the leaf is another controller's, the platform's own or beyond the tree."""

    def __init__(self, leaf_index: int) -> None:
        super().__init__(f"leaf {leaf_index} not found")


class NotSigned(AuditError):
    def __init__(self, what: str, value: int) -> None:
        super().__init__(f"{what} {value} is not the size of a signed checkpoint: a proof there would lead to a"
                         " root nobody signed (ask at the size of a checkpoint you hold, or 0 for the latest)")


class EmptyLog(AuditError):
    def __init__(self) -> None:
        super().__init__("the log has no signed checkpoint yet")


class SignerUnavailable(AuditError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"checkpoint signer unavailable ({detail})")


class KeyvaultUnavailable(AuditError):
    def __init__(self) -> None:
        super().__init__("keyvault unreachable: subject references cannot be computed, retry later")
