"""Each service's part of Vault/OpenBao, on a server that exists: the erasure key every service but
audit reads, keyvault's key-encryption key, audit's checkpoint signing key, each with a policy that
allows its service only what it needs. A token carrying the policy is issued only when asked for
(production logs in with Kubernetes auth instead, bound to the policy)."""

from collections.abc import Callable
from pathlib import Path

import hvac
import requests

from services.audit import provision as audit
from services.common import erasure
from services.common.vault_admin import ensure_auth_method, issue_token, write_entry
from services.common.vault_auth import tls_verification
from services.keyvault import provision as keyvault
from services.provision import ProvisionError, Provisioned

ERASURE_KEY_READERS = ("consent", "keyvault", "dsr")
# What the services' projected tokens name as their audience (deploy/k8s): a token made for another
# audience (the Kubernetes API's own) is refused.
KUBERNETES_AUDIENCE = "openbao"
KUBERNETES_TOKEN_TTL_S = 3600  # a service logs in again at half of it (services/common/vault_auth.py)


def kubernetes_roles(backend: str = "wrapped") -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each service's Kubernetes auth role: the ServiceAccount it runs as (deploy/k8s names it after
    the service) and the one policy it gets. A service with two uses of Vault logs in twice, so each
    token carries one policy only."""
    roles = {"consentry-keyvault": ("keyvault", (keyvault.POLICY_NAMES[backend],)),
             "consentry-audit": ("audit", (audit.POLICY,))}
    roles.update({f"consentry-{service}-erasure-key": (service, (erasure.READER_POLICY,))
                  for service in ERASURE_KEY_READERS})
    return roles


def admin_client(address: str, token: str, ca_file: Path | None = None) -> hvac.Client:
    if not token:
        raise ProvisionError("CONSENTRY_PROVISION_VAULT_TOKEN is not set: a token that may mount secrets"
                             " engines, write keys and policies, and create tokens")
    return hvac.Client(url=address, token=token, timeout=10, verify=tls_verification(ca_file))


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


def provision_kubernetes_auth(admin: hvac.Client, namespace: str, kubernetes_host: str, kubernetes_ca: str = "",
                              mount: str = "kubernetes", backend: str = "wrapped", in_cluster: bool = True,
                              token_ttl_s: int = KUBERNETES_TOKEN_TTL_S) -> Provisioned:
    """The Kubernetes auth method at `mount`, reviewing tokens at `kubernetes_host` (`kubernetes_ca`:
    its CA, PEM), and a role per service bound to its ServiceAccount in `namespace`, its policy and
    the audience OpenBao; a token lives `token_ttl_s` and no longer, with no default policy.
    `in_cluster`: OpenBao runs in the cluster and reviews with its own account's token and CA (the
    chart's auth-delegator binding); outside it, each login's token reviews itself."""
    def step() -> list[str]:
        changed = [f"auth method {mount}/"] if ensure_auth_method(admin, "kubernetes", mount) else []
        config = {"kubernetes_host": kubernetes_host, "kubernetes_ca_cert": kubernetes_ca,
                  "disable_local_ca_jwt": not in_cluster}
        changed += [f"auth/{mount}/config"] if write_entry(admin, f"auth/{mount}/config", config) else []
        for role, (account, policies) in kubernetes_roles(backend).items():
            wanted = {"bound_service_account_names": [account], "bound_service_account_namespaces": [namespace],
                      "audience": KUBERNETES_AUDIENCE, "token_policies": list(policies),
                      "token_no_default_policy": True, "token_ttl": token_ttl_s, "token_max_ttl": token_ttl_s,
                      "token_period": 0, "token_explicit_max_ttl": 0}  # no token renewed for ever
            changed += [f"role {role}"] if write_entry(admin, f"auth/{mount}/role/{role}", wanted) else []
        return changed
    done = Provisioned(_step(admin, step))
    existing = set(_step(admin, lambda: admin.sys.list_acl_policies()["data"]["keys"]))
    missing = sorted({p for _, policies in kubernetes_roles(backend).values() for p in policies} - existing)
    done.notes += [f"policy {policy} does not exist yet: provision it (erasure-key, kek, checkpoint-key) before"
                   " the services start" for policy in missing]
    return done
