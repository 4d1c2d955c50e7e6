"""Client identity (mTLS certificate CN) and authorization by a policy file.

Policy (TOML):

    [clients.gate-app]
    controller = "acme-campus"                                     # the one controller it acts for
    rpcs = ["consentry.consent.v1.ConsentService/CheckConsent"]   # "Service/*" allows a whole service
    purposes = ["gate-access-face"]                                # "*" allows every purpose

    [clients.operator]
    operator = true                                                # the platform's own: no controller
    rpcs = ["*", "consentry.consent.v1.ConsentAdminService/EraseSubject"]

    [clients.portal]
    operator = true
    rpcs = ["consentry.dsr.v1.DsrService/SubmitRequest"]
    verifies_identity = true     # it signed the person in: the requests it files are verified on receipt

    [clients.console]
    operator = true
    rpcs = ["consentry.audit.v1.AuditService/Append"]
    records_staff_actions = true  # it signs staff in: it appends "console." events naming who acted

Every client either belongs to exactly one controller (`controller = "<id>"`) or is an operator of the
platform (`operator = true`). An entry with neither or both is refused when the policy is loaded, so a
careless entry stops the service at start instead of letting a client act for no controller or all.

An admin service (its name ends in "AdminService": erasure, shredding, KEK rotation, ...) is reached
only by its own name, "AdminService/Method" or "AdminService/*", never by the bare "*": a grant
written loosely for a face system must not reach an operator's destructive action. And only by an
operator: a controller's client granted one is still refused (OPERATOR_ONLY).

The TLS layer requires a certificate signed by the client CA, so a caller without one is refused
during the handshake and never reaches a service. A valid certificate whose identity the policy
does not name is UNAUTHENTICATED; a named client calling outside its grant is PERMISSION_DENIED.
Health and reflection need no policy entry.
"""

import tomllib
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from services.common.validation import Validator


class Unauthenticated(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PolicyError(ValueError):
    """A policy file that cannot be enforced as written; the service does not start with it."""


class PermissionDenied(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ControllerNotFound(LookupError):
    """Another controller's id, answered exactly as an unknown one: a client never learns which
    controllers exist beyond its own."""

    reason = "CONTROLLER_NOT_FOUND"

    def __init__(self, controller_id: str) -> None:
        super().__init__(f"controller '{controller_id}' does not exist")


ADMIN_SERVICE_SUFFIX = "AdminService"


def is_admin_service(service: str) -> bool:
    return service.endswith(ADMIN_SERVICE_SUFFIX)


@dataclass(frozen=True)
class ClientGrant:
    client_id: str
    rpcs: frozenset[str]
    purposes: frozenset[str]
    # The controller the client acts for; None for an operator of the platform.
    controller_id: str | None = None
    # Every RPC, admin services included: only the dev server without a policy grants this, never a file.
    unrestricted: bool = False
    # It authenticates the people it acts for (the portal's sign-in): dsr takes its requests as verified.
    verifies_identity: bool = False
    # It signs the platform's staff in (the DPO console): the audit log takes its "console." events,
    # each naming the person who acted. No face system may write one.
    records_staff_actions: bool = False

    def may_call(self, method: str) -> bool:
        service = method.rsplit("/", 1)[0]
        if self.unrestricted or method in self.rpcs or f"{service}/*" in self.rpcs:
            return True
        return "*" in self.rpcs and not is_admin_service(service)

    def may_use_purpose(self, purpose_id: str) -> bool:
        return "*" in self.purposes or purpose_id in self.purposes

    @property
    def is_operator(self) -> bool:
        return self.controller_id is None

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
        clients = {name: _grant(name, entry) for name, entry in data.get("clients", {}).items()}
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
        service = method.rsplit("/", 1)[0]
        if is_admin_service(service) and not grant.is_operator:
            # Erasure, shredding, KEK rotation reach across subjects: a policy granting one to a
            # controller's client is a mistake, refused here rather than trusted.
            raise PermissionDenied("OPERATOR_ONLY", f"client '{client_id}' acts for a controller; only an operator"
                                   f" calls {service}")
        return grant


def _grant(name: str, entry: dict) -> ClientGrant:
    """One client's entry; PolicyError unless it names exactly one of a controller or `operator = true`."""
    controller, operator = entry.get("controller"), entry.get("operator", False)
    verifies, staff = entry.get("verifies_identity", False), entry.get("records_staff_actions", False)
    if not all(isinstance(flag, bool) for flag in (operator, verifies, staff)):
        raise PolicyError(f"policy: client '{name}': operator, verifies_identity and records_staff_actions must be"
                          " true or false")
    if controller is not None and (not isinstance(controller, str) or not controller.strip()):
        raise PolicyError(f"policy: client '{name}': controller must be a controller id")
    if operator and controller is not None:
        raise PolicyError(f"policy: client '{name}' names controller '{controller}' and operator = true;"
                          " a client is either one controller's or an operator, never both")
    if not operator and controller is None:
        raise PolicyError(f"policy: client '{name}' names no controller: set controller = \"<id>\", or"
                          " operator = true for the platform's own identities")
    return ClientGrant(name, frozenset(entry.get("rpcs", [])), frozenset(entry.get("purposes", [])),
                       controller_id=controller, verifies_identity=verifies, records_staff_actions=staff)


_current: ContextVar[ClientGrant | None] = ContextVar("consentry_client", default=None)


def current_client() -> ClientGrant:
    grant = _current.get()
    if grant is None:  # only reachable if a servicer runs outside the interceptor
        raise Unauthenticated("CLIENT_UNKNOWN", "no authenticated client")
    return grant


def current_controller() -> str | None:
    """The controller the calling client acts for; None for an operator."""
    return current_client().controller_id


def acting_controller(named: str, v: Validator, field: str = "controller_id") -> str:
    """The controller a call about a subject acts in. A controller's client acts in its own: naming no
    controller means it, naming another is ControllerNotFound. An operator has no controller of its
    own, so it must name one (a violation of `field` on `v` otherwise): the same person at two
    controllers is two subjects, and an operator's call must never reach both by default."""
    grant = current_client()
    if grant.is_operator:
        v.identifier(field, named)
        return named
    if named and named != grant.controller_id:
        raise ControllerNotFound(named)
    return grant.controller_id


def controller_scope(named: str, v: Validator, field: str = "controller_id") -> str | None:
    """The controller a list is read in: a controller's client its own (another's is
    ControllerNotFound); an operator the one it names, or None for every controller."""
    grant = current_client()
    if grant.is_operator:
        v.optional_identifier(field, named)
        return named or None
    return acting_controller(named, v, field)


def bind_client(grant: ClientGrant | None) -> None:
    _current.set(grant)


def require_purpose(purpose_id: str) -> None:
    grant = current_client()
    if not grant.may_use_purpose(purpose_id):
        raise PermissionDenied("PURPOSE_NOT_GRANTED", f"client '{grant.client_id}' may not use purpose '{purpose_id}'")
