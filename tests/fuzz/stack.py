"""The fuzz suite's own platform: the four services in-process on the session's PostgreSQL and
OpenBao, but with their own broker, databases, transit mount, CA and policies, so nothing the fuzzer
does (a trimmed KEK, erased subjects, registered processors, expired consents) reaches other tests."""

from pathlib import Path

import grpc
import hvac

from services.audit.app import AuditApp
from services.audit.provision import checkpoint_signer_policy
from consentry_dev.launchers import free_port
from services.common.pki import DevCA
from services.consent.app import ConsentApp
from services.dsr.app import DsrApp
from services.keyvault.app import KeyVaultApp
from services.common.vault_admin import issue_token
from services.keyvault.provision import ensure_kek
from tests.audit.fixtures import AUDIT_CLIENTS, audit_settings, provisioned
from tests.consent.fixtures import ADMIN_SERVICE as CONSENT_ADMIN
from tests.consent.fixtures import CLIENTS, consent_settings
from tests.dsr.fixtures import ADMIN_SERVICE as DSR_ADMIN
from tests.dsr.fixtures import DSR_CLIENTS, dsr_settings
from tests.keyvault.fixtures import ADMIN_SERVICE as KEYVAULT_ADMIN
from tests.keyvault.fixtures import KEYVAULT_CLIENTS, keyvault_settings
from tests.support import erasure_key, secure_channel, write_policy

FUZZER = "fuzzer"  # the client identity the fuzzer calls with: every RPC, every purpose
# "*" reaches no admin service: the fuzzer names each.
EVERY_RPC = ["*", *(f"{service}/*" for service in (CONSENT_ADMIN, KEYVAULT_ADMIN, DSR_ADMIN))]
PRODUCERS = ("consent", "keyvault", "dsr")  # each serves EventService beside its own service
# Each service's own clients (the services call each other) plus the fuzzer.
# Two controllers' face systems, granted the same (tests/fuzz/test_controllers_apart.py): what one
# reaches of the other's data is what any client of a controller could.
WALKERS = {client: {"controller": controller, "rpcs": EVERY_RPC, "purposes": ["*"]}
           for controller, client in (("walk-a", "walker-a"), ("walk-b", "walker-b"))}
# Whose subject keys the stack's keyvault wraps, each under its own KEK: the fuzzer's world's, the walkers'.
CONTROLLERS = ("fuzz-campus", "walk-a", "walk-b")
POLICIES = {name: {**clients, **WALKERS, FUZZER: {"operator": True, "rpcs": EVERY_RPC, "purposes": ["*"]}}
            for name, clients in (("consent", CLIENTS), ("keyvault", KEYVAULT_CLIENTS), ("audit", AUDIT_CLIENTS),
                                  ("dsr", DSR_CLIENTS))}


def provision_vault(admin: hvac.Client, prefix: str) -> tuple[str, str]:
    """Tokens for keyvault and audit on a mount of our own, under policy names of our own: the session
    services' policies stay as they are."""
    mount, kek, checkpoint_key = f"{prefix}-transit", f"{prefix}-kek", f"{prefix}-audit-checkpoints"
    keyvault = f"{prefix}-keyvault"
    for controller_id in (None, *CONTROLLERS):
        ensure_kek(admin, "wrapped", kek, mount, keyvault, controller_id)
    admin.secrets.transit.create_key(checkpoint_key, key_type="ed25519", mount_point=mount)
    admin.sys.create_or_update_policy(f"{prefix}-audit", checkpoint_signer_policy(checkpoint_key, mount))
    return issue_token(admin, keyvault), issue_token(admin, f"{prefix}-audit")


class FuzzStack:
    """`prefix` names its databases, transit mount and keys, so two modules' stacks never meet."""

    def __init__(self, run_dir: Path, ca: DevCA, postgres, vault, kafka, prefix: str = "fuzz") -> None:
        self.run_dir, self.ca, self.postgres, self.vault, self.kafka = run_dir, ca, postgres, vault, kafka
        self.prefix = prefix
        self.apps: dict = {}
        self.databases = {service: f"{prefix}_{service}" for service in ("consent", "keyvault", "audit", "dsr")}
        self.dsns = {service: postgres.dsn(database) for service, database in self.databases.items()}
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _own(self, settings, service: str):
        policy = self.run_dir / f"{service}-{self.prefix}-policy.toml"
        settings.grpc.policy_file = write_policy(policy, POLICIES[service])
        # The relays' periodic watermarks move audit's consumer offsets every half second, so the
        # databases would never be quiet; one at start is enough here.
        settings.kafka.watermark_interval_s = 3600.0
        return settings

    async def start(self) -> "FuzzStack":
        pg, ca, run_dir, broker = self.postgres, self.ca, self.run_dir, self.kafka
        for service in ("consent", "keyvault", "dsr"):
            pg.create_database(self.databases[service])
        await provisioned(pg, self.databases["audit"])
        keyvault_token, audit_token = provision_vault(self.vault.client(), self.prefix)
        mount = f"{self.prefix}-transit"

        consent = consent_settings(run_dir, ca, self.dsns["consent"], broker, self.vault)
        await self._start("consent", ConsentApp(self._own(consent, "consent")))
        keyvault = keyvault_settings(run_dir, ca, self.dsns["keyvault"], broker, self.apps["consent"].port,
                                     self.vault.address, keyvault_token, "wrapped",
                                     erasure=erasure_key(self.vault, "keyvault"))
        keyvault.kek_name, keyvault.transit_mount = f"{self.prefix}-kek", mount
        await self._start("keyvault", KeyVaultApp(self._own(keyvault, "keyvault")))
        dsr_port = free_port()  # audit opens dsr's events, and starts first
        audit = audit_settings(run_dir, ca, pg, self.databases["audit"], broker, self.apps["keyvault"].port,
                               self.vault.address, audit_token, topics=("consent.events", "keyvault.events",
                                                                         "dsr.events"),
                               producers={"consent": self.apps["consent"].port, "dsr": dsr_port})
        audit.checkpoint_key_name, audit.transit_mount = f"{self.prefix}-audit-checkpoints", mount
        # Fuzzed sequence numbers leave holes for good, and audit asks for a replay (stamping
        # producer_progress) every grace period: with the test's 1 s the rows would never stay quiet.
        audit.gap_grace_s = 3600.0
        await self._start("audit", AuditApp(self._own(audit, "audit")))
        dsr = dsr_settings(run_dir, ca, self.dsns["dsr"], broker,
                           {name: self.apps[name].port for name in ("consent", "keyvault", "audit")},
                           erasure=erasure_key(self.vault, "dsr"))
        # Nobody confirms the fuzzed processors' tasks: resending them every second would keep the
        # databases busy, and a rejected call is only judged once they are quiet.
        dsr.task_confirm_timeout_s = 3600.0
        dsr.grpc.listen = f"127.0.0.1:{dsr_port}"
        await self._start("dsr", DsrApp(self._own(dsr, "dsr")))
        return self

    async def _start(self, name: str, app) -> None:
        await app.start()
        self.apps[name] = app

    def channel(self, service: str) -> grpc.aio.Channel:
        """One channel per service, as the fuzzer (mTLS, allowed everything)."""
        if service not in self._channels:
            self._channels[service] = secure_channel(self.ca, self.apps[service].port, FUZZER)
        return self._channels[service]

    async def stop(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        for app in reversed(list(self.apps.values())):
            await app.stop()
