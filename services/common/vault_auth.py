"""Who a service is to Vault/OpenBao, and how it reaches it.

A token is given directly (dev, tests) or got by logging in with the pod's projected
service-account token (Kubernetes auth, production). A login's token expires with its lease and the
kubelet rotates the projected token, so a session logs in again, reading the file anew, once half
the lease has passed, or soon after Vault refused its token. Vault behind TLS is verified against
the CA in `vault_ca_file` (the platform's own, not the system's)."""

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

import hvac
from pydantic import BaseModel, Field, SecretStr, model_validator

# A refused token is replaced, but not more often than this: a policy that refuses a path (a
# controller's KEK not provisioned yet) must not turn every such call into a login.
RELOGIN_FLOOR_S = 30.0
LOGIN_TIMEOUT_S = 5.0
# After a failed login, the next attempt waits this long (doubling up to the last): a Kubernetes API
# or OpenBao away for a moment must not turn every call into a login.
LOGIN_RETRY_S = (1.0, 30.0)


def tls_verification(ca_file: Path | None) -> str | bool:
    """What hvac/requests verify Vault's certificate against: the CA file, else the HTTP client's bundle."""
    return str(ca_file) if ca_file else True


class VaultLoginFailed(Exception):
    """No token: the login was refused or could not be made, and no earlier token is still valid."""


class VaultSession:
    def __init__(self, address: str, token: str = "", ca_file: Path | None = None,
                 login: Callable[[hvac.Client], dict] | None = None, relogin_floor_s: float = RELOGIN_FLOOR_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`login`: logs in with the client it is given and returns Vault's answer; None for a fixed `token`."""
        self.address, self._relogin_floor = address, relogin_floor_s
        self.verify = tls_verification(ca_file)
        self._login, self._clock = login, clock
        self._lock, self._clients = threading.Lock(), threading.local()
        self._token, self._logged_in = token, -math.inf
        # The token is used until `_expires_at`, a new one asked for from `_renew_at` on.
        self._expires_at = math.inf if login is None else -math.inf
        self._renew_at, self._retry_s = self._expires_at, LOGIN_RETRY_S[0]

    def client(self, timeout: float = 5.0) -> hvac.Client:
        """This thread's client (hvac's are not shared between threads), carrying the token as of now:
        ask for it in the worker thread, for each call (it may log in first). VaultLoginFailed when
        there is no valid token."""
        clients = self._clients.__dict__
        client = clients.get(timeout)
        if client is None:
            client = clients[timeout] = hvac.Client(url=self.address, timeout=timeout, verify=self.verify)
        client.token = self.token()
        return client

    def token(self) -> str:
        """Blocks while it logs in: call it from a worker thread. A failed renewal keeps the token it
        has while that is valid; without one it is VaultLoginFailed, until the next attempt is due."""
        with self._lock:
            now = self._clock()
            if self._login is not None and now >= self._renew_at:
                try:
                    self._log_in(now)
                except Exception as error:  # noqa: BLE001 - refused, unreachable, no token file: one reason
                    self._renew_at, self._retry_s = now + self._retry_s, min(self._retry_s * 2, LOGIN_RETRY_S[1])
                    if now >= self._expires_at:
                        raise VaultLoginFailed(f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
                                               if str(error) else type(error).__name__) from None
            elif now >= self._expires_at:
                raise VaultLoginFailed("no valid token: the last login failed")
            return self._token

    def _log_in(self, now: float) -> None:
        auth = self._login(hvac.Client(url=self.address, timeout=LOGIN_TIMEOUT_S, verify=self.verify))["auth"]
        self._token, self._logged_in, self._retry_s = auth["client_token"], now, LOGIN_RETRY_S[0]
        lease = auth.get("lease_duration") or 0
        self._expires_at = now + lease if lease else math.inf
        self._renew_at = now + lease / 2 if lease else math.inf

    def refused(self) -> None:
        """Vault refused the token (expired, revoked): log in again at a call after the floor."""
        with self._lock:
            if self._login is not None:
                self._renew_at = min(self._renew_at, self._logged_in + self._relogin_floor)
                self._expires_at = min(self._expires_at, self._renew_at)


class VaultAccess(BaseModel):
    """The settings of a service that uses Vault/OpenBao (each service's fields, CONSENTRY_<SERVICE>_VAULT_...)."""

    vault_address: str = "http://127.0.0.1:8200"
    # PEM file of the CA that signed Vault's certificate (an https address); unset: the bundle of the
    # HTTP client (certifi's), never the platform's own CA.
    vault_ca_file: Path | None = None
    vault_auth: str = Field("token", pattern="^(token|kubernetes)$")
    vault_token: SecretStr = SecretStr("")
    # Kubernetes auth: the role (bound to the service's ServiceAccount and policies), where the
    # method is mounted, and the projected token whose audience is Vault.
    vault_kubernetes_role: str = ""
    vault_kubernetes_mount: str = "kubernetes"
    vault_kubernetes_jwt_file: Path = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

    @model_validator(mode="after")
    def _kubernetes_needs_a_role(self) -> "VaultAccess":
        if self.vault_auth == "kubernetes" and not self.vault_kubernetes_role:
            raise ValueError("vault_kubernetes_role is required with vault_auth=kubernetes")
        return self

    def vault_session(self) -> VaultSession:
        return VaultSession(self.vault_address, self.vault_token.get_secret_value(), self.vault_ca_file,
                            self.vault_login())

    def vault_login(self) -> Callable[[hvac.Client], dict] | None:
        """Kubernetes auth's login, reading the projected token anew each time; None for a given token."""
        if self.vault_auth == "token":
            return None
        role, mount, jwt_file = self.vault_kubernetes_role, self.vault_kubernetes_mount, self.vault_kubernetes_jwt_file

        def login(client: hvac.Client) -> dict:
            return client.auth.kubernetes.login(role=role, jwt=jwt_file.read_text().strip(), mount_point=mount)
        return login
