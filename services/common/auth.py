"""Client identity (mTLS certificate CN) and authorization by a policy file.

Policy (TOML):

    [clients.gate-app]
    rpcs = ["consentry.consent.v1.ConsentService/CheckConsent"]   # "Service/*" allows a whole service
    purposes = ["gate-access-face"]                                # "*" allows every purpose

    [clients.operator]
    rpcs = ["*", "consentry.consent.v1.ConsentAdminService/EraseSubject"]

An admin service (its name ends in "AdminService": erasure, shredding, KEK rotation, ...) is reached
only by its own name, "AdminService/Method" or "AdminService/*", never by the bare "*": a grant
written loosely for a face system must not reach an operator's destructive action.

The TLS layer requires a certificate signed by the client CA, so a caller without one is refused
during the handshake and never reaches a service. A valid certificate whose identity the policy
does not name is UNAUTHENTICATED; a named client calling outside its grant is PERMISSION_DENIED.
Health and reflection need no policy entry.
"""

import tomllib
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path


class Unauthenticated(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PermissionDenied(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


ADMIN_SERVICE_SUFFIX = "AdminService"


def is_admin_service(service: str) -> bool:
    return service.endswith(ADMIN_SERVICE_SUFFIX)


@dataclass(frozen=True)
class ClientGrant:
    client_id: str
    rpcs: frozenset[str]
    purposes: frozenset[str]
    # Every RPC, admin services included: only the dev server without a policy grants this, never a file.
    unrestricted: bool = False

    def may_call(self, method: str) -> bool:
        service = method.rsplit("/", 1)[0]
        if self.unrestricted or method in self.rpcs or f"{service}/*" in self.rpcs:
            return True
        return "*" in self.rpcs and not is_admin_service(service)

    def may_use_purpose(self, purpose_id: str) -> bool:
        return "*" in self.purposes or purpose_id in self.purposes

    def purpose_scope(self) -> frozenset[str] | None:
        """The purposes a list may show this client; None: every purpose."""
        return None if "*" in self.purposes else self.purposes


@dataclass(frozen=True)
class Policy:
    clients: dict[str, ClientGrant]

    @classmethod
    def load(cls, path: Path) -> "Policy":
        return cls.parse(tomllib.loads(path.read_text()))

    @classmethod
    def parse(cls, data: dict) -> "Policy":
        clients = {
            name: ClientGrant(name, frozenset(entry.get("rpcs", [])), frozenset(entry.get("purposes", [])))
            for name, entry in data.get("clients", {}).items()
        }
        return cls(clients)

    @classmethod
    def for_server(cls, policy_file: Path | None, insecure_client_id: str | None) -> "Policy":
        if policy_file:
            return cls.load(policy_file)
        if insecure_client_id:  # dev without a policy: the one client may do everything
            return cls({insecure_client_id: ClientGrant(insecure_client_id, frozenset(), frozenset(["*"]),
                                                        unrestricted=True)})
        raise ValueError("a policy file is required (GRPC__POLICY_FILE)")

    def authorize(self, client_id: str | None, method: str) -> ClientGrant:
        if not client_id:
            raise Unauthenticated("CLIENT_CERTIFICATE_REQUIRED", "a client certificate is required")
        grant = self.clients.get(client_id)
        if grant is None:
            raise Unauthenticated("CLIENT_UNKNOWN", f"client '{client_id}' is not registered")
        if not grant.may_call(method):
            raise PermissionDenied("RPC_NOT_GRANTED", f"client '{client_id}' may not call {method}")
        return grant


_current: ContextVar[ClientGrant | None] = ContextVar("consentry_client", default=None)


def current_client() -> ClientGrant:
    grant = _current.get()
    if grant is None:  # only reachable if a servicer runs outside the interceptor
        raise Unauthenticated("CLIENT_UNKNOWN", "no authenticated client")
    return grant


def bind_client(grant: ClientGrant | None) -> None:
    _current.set(grant)


def require_purpose(purpose_id: str) -> None:
    grant = current_client()
    if not grant.may_use_purpose(purpose_id):
        raise PermissionDenied("PURPOSE_NOT_GRANTED", f"client '{grant.client_id}' may not use purpose '{purpose_id}'")
