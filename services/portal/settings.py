"""Portal settings, from environment variables prefixed CONSENTRY_PORTAL_ (nested with "__")."""

from pathlib import Path

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import GrpcSettings, RuntimeSettings, TelemetrySettings


class SmtpSettings(BaseModel):
    """The mail server the portal sends sign-in codes through. No host: no sign-in by code (by link only)."""
    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    # "starttls" (submission, port 587), "tls" (implicit TLS, port 465) or "none" (a local relay only).
    security: str = Field("starttls", pattern="^(starttls|tls|none)$")
    username: str = ""
    password: SecretStr = SecretStr("")
    sender: str = "privacy@localhost"  # the From: address
    timeout_s: float = Field(10.0, gt=0)


class OidcSettings(BaseModel):
    """Staff sign in at the organisation's identity provider instead of with a password and code: set
    the issuer (its /.well-known/openid-configuration is read) and the console's client there. The
    console's redirect URI is <public_url>/console/sign-in/oidc. The ID token's subject picks the
    console account bound to it, which an operator creates (`--oidc-subject`): its role and controller
    are the console's to say."""
    issuer: str = ""  # exactly as the provider states it (a trailing "/" included)
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    scopes: str = "openid"


class ConsoleSettings(BaseModel):
    """The console for the platform's staff (/console/), with its own mTLS identity ("console": an operator
    whose policy entry says `records_staff_actions = true`). No certificate: no console here."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    audit_address: str = "localhost:50054"
    # How long a staff session lasts: idle, and at most (shorter than a person's: staff reach everyone).
    session_idle_s: float = Field(15 * 60, gt=0)
    session_absolute_s: float = Field(8 * 3600, gt=0)
    # Sign-in at the organisation's identity provider (CONSENTRY_PORTAL_CONSOLE__OIDC__ISSUER, ...); no
    # issuer: a password and an authenticator code.
    oidc: OidcSettings = OidcSettings()

    @property
    def enabled(self) -> bool:
        return bool(self.tls_cert and self.tls_key)


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_PORTAL_", env_nested_delimiter="__")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/portal"
    pool_min_size: int = 2
    pool_max_size: int = 16
    # PortalService (sign-in links for face systems' backends), mTLS like every service's API.
    grpc: GrpcSettings = GrpcSettings(listen="127.0.0.1:50055")
    telemetry: TelemetrySettings = TelemetrySettings()
    runtime: RuntimeSettings = RuntimeSettings()

    # The web pages: where they listen, and the address people reach them at (sign-in links start with
    # it). Behind TLS in production: cookies are Secure and HSTS is sent when it is an https address.
    http_listen: str = "127.0.0.1:8080"
    public_url: AnyHttpUrl = AnyHttpUrl("http://localhost:8080")

    # The proxies whose X-Forwarded-For names the visitor (uvicorn's forwarded_allow_ips; empty: none,
    # the connection's own address counts), for the rate limits.
    forwarded_allow_ips: str = ""
    # What one address may ask per minute: sign-in attempts, every other form, and pages.
    sign_ins_per_minute: int = Field(10, ge=1)
    changes_per_minute: int = Field(60, ge=1)
    pages_per_minute: int = Field(600, ge=1)

    # Sign-in by a code mailed to the address the person's app registered (CONSENTRY_PORTAL_SMTP__HOST, ...).
    smtp: SmtpSettings = SmtpSettings()

    # How long a session lasts: idle, and at most.
    session_idle_s: float = Field(30 * 60, gt=0)
    session_absolute_s: float = Field(8 * 3600, gt=0)
    # How long a session open when its person is deleted still reads (it changes nothing any more).
    session_after_deletion_s: float = Field(600, gt=0)
    # Ended links and sessions are deleted this often (the person's id goes with them).
    sweep_interval_s: float = Field(60.0, gt=0)

    # The platform as the portal calls it, over mTLS with one client certificate (identity "portal"; its
    # policy entry at dsr says `verifies_identity = true`, so the requests it files start verified).
    consent_address: str = "localhost:50051"
    dsr_address: str = "localhost:50053"
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    # The staff's console (CONSENTRY_PORTAL_CONSOLE__TLS_CERT, ...); it calls dsr at dsr_address too.
    console: ConsoleSettings = ConsoleSettings()
