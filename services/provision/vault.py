"""Each service's part of Vault/OpenBao, on a server that exists: the erasure key every service but
audit reads, keyvault's key-encryption key, audit's checkpoint signing key, each with a policy that
allows its service only what it needs. A token carrying the policy is issued only when asked for
(production logs in with Kubernetes auth instead, bound to the policy)."""

from collections.abc import Callable

import hvac
import requests

from services.audit import provision as audit
from services.common import erasure
from services.common.vault_admin import issue_token
from services.keyvault import provision as keyvault
from services.provision import ProvisionError, Provisioned

ERASURE_KEY_READERS = ("consent", "keyvault", "dsr")


def admin_client(address: str, token: str) -> hvac.Client:
    if not token:
        raise ProvisionError("CONSENTRY_PROVISION_VAULT_TOKEN is not set: a token that may mount secrets"
                             " engines, write keys and policies, and create tokens")
    return hvac.Client(url=address, token=token, timeout=10)


def _step(admin: hvac.Client, step: Callable[[], list[str]]) -> list[str]:
    try:
        return step()
    except hvac.exceptions.VaultError as error:
        raise ProvisionError(f"Vault at {admin.url}: {type(error).__name__}: "
                             f"{str(error).splitlines()[0] if str(error) else 'refused'}") from None
    except requests.RequestException as error:
        raise ProvisionError(f"cannot reach Vault at {admin.url}: {type(error).__name__}") from None


def _issue(admin: hvac.Client, done: Provisioned, token: bool, setting: str, policy: str, **meta: str) -> None:
    if token:
        done.settings[setting] = _step(admin, lambda: [issue_token(admin, policy, **meta)])[0]
    else:
        done.notes.append(f"no token issued (--token issues one); or bind policy {policy} to the service's"
                          " Kubernetes auth role")


def provision_erasure_key(admin: hvac.Client, service: str, mount: str, path: str, policy: str,
                          token: bool = False) -> Provisioned:
    if service not in ERASURE_KEY_READERS:
        raise ProvisionError(f"{service!r} reads no erasure key: one of {', '.join(ERASURE_KEY_READERS)}")
    prefix = f"CONSENTRY_{service.upper()}_ERASURE_KEY__"
    done = Provisioned(_step(admin, lambda: erasure.ensure_erasure_key(admin, mount, path, policy)),
                       {f"{prefix}VAULT_ADDRESS": admin.url, f"{prefix}KV_MOUNT": mount, f"{prefix}PATH": path})
    _issue(admin, done, token, f"{prefix}VAULT_TOKEN", policy, service=service)
    return done


def provision_kek(admin: hvac.Client, backend: str, mount: str, kek_name: str, policy: str,
                  token: bool = False, controller_id: str | None = None) -> Provisioned:
    """The default controller's KEK, or with `controller_id` that controller's; either way the
    service's policy (which takes in every controller's)."""
    if controller_id is not None and backend != "wrapped":
        raise ProvisionError("--controller is for the wrapped backend: transit-per-subject has a key per subject,"
                             " not a KEK per controller")
    prefix, policy = "CONSENTRY_KEYVAULT_", policy.lower()  # as Vault names it
    done = Provisioned(_step(admin, lambda: keyvault.ensure_kek(admin, backend, kek_name, mount, policy,
                                                                controller_id)),
                       {f"{prefix}VAULT_ADDRESS": admin.url, f"{prefix}BACKEND": backend,
                        f"{prefix}TRANSIT_MOUNT": mount})
    if backend == "wrapped":
        done.settings[f"{prefix}KEK_NAME"] = kek_name
    if controller_id is not None:
        done.notes.append(f"policy {keyvault.controller_policy(policy, controller_id)} allows this controller's KEK"
                          f" alone (for a keyvault serving it only); {policy} takes it in with the others")
    _issue(admin, done, token, f"{prefix}VAULT_TOKEN", policy)
    return done


def provision_checkpoint_key(admin: hvac.Client, mount: str, key_name: str, policy: str,
                             token: bool = False) -> Provisioned:
    prefix = "CONSENTRY_AUDIT_"
    done = Provisioned(_step(admin, lambda: audit.ensure_checkpoint_key(admin, key_name, mount, policy)),
                       {f"{prefix}VAULT_ADDRESS": admin.url, f"{prefix}TRANSIT_MOUNT": mount,
                        f"{prefix}CHECKPOINT_KEY_NAME": key_name})
    _issue(admin, done, token, f"{prefix}VAULT_TOKEN", policy)
    return done
