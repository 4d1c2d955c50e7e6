"""The dev platform as the benchmark uses it: the launchers of the infrastructure (PostgreSQL, Tansu
behind its TLS front, OpenBao), `consentry dev up`'s composition root (its policy, topics, demo
purpose and each service's settings) and its seeding. This is the only module of bench/ that imports
them, so that moving the dev platform changes this file alone."""

from __future__ import annotations

import tomllib
from typing import Any

from consentry_dev.launchers import (
    ManagedProcess,
    OpenBaoProcess,
    PostgresProcess,
    TansuProcess,
    broker_tls,
    free_port,
)
from consentry_dev.policy import CONSENT, CONSENT_ADMIN, DEMO_PURPOSE, KEYVAULT, KEYVAULT_ADMIN, POLICY
from consentry_dev.seed import seed_demo_consents, seed_demo_purpose
from consentry_dev.stalling_proxy import StallingProxy
from consentry_dev.stack import (
    AUDIT_DATABASE,
    TOPICS,
    FaceGateProcess,
    audit_env,
    consent_env,
    dsr_env,
    face_gate_env,
    keyvault_env,
    portal_env,
)
from consentry_dev.stack import Stack as DevStack

__all__ = ["AUDIT_DATABASE", "CONSENT", "CONSENT_ADMIN", "KEYVAULT", "DEMO_PURPOSE", "KEYVAULT_ADMIN", "POLICY", "TOPICS", "DevStack", "FaceGateProcess", "ManagedProcess",
           "MeteredOpenBao", "OpenBaoProcess", "PostgresProcess", "TansuProcess", "audit_env", "broker_tls",
           "consent_env", "dev_grant", "dsr_env", "face_gate_env", "free_port", "keyvault_env", "portal_env",
           "StallingProxy", "seed_demo_consents", "seed_demo_purpose"]


def dev_grant(client: str) -> dict[str, Any] | None:
    """What the dev platform's policy grants `client` (its "rpcs" and "purposes"), or None."""
    return tomllib.loads(POLICY)["clients"].get(client)


class MeteredOpenBao(OpenBaoProcess):
    """OpenBao in dev mode as the dev platform runs it, plus its Prometheus metrics endpoint, so that
    each round can count the transit requests it caused (the keyvault's subject-key cache at work)."""

    def prepare(self) -> None:
        super().prepare()
        telemetry = 'telemetry {\n  prometheus_retention_time = "24h"\n  disable_hostname = true\n}\n'
        self.config_path.write_text(self.config_path.read_text() + telemetry)
