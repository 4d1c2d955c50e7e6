"""Provisioning of Vault/OpenBao for keyvault, as an operator (or the dev stack) runs it once with an
administrative token: the transit mount, the key-encryption keys, and least-privilege policies.

Each controller's subject keys are wrapped under a KEK of its own (services/keyvault/domain/kek.py),
and each KEK has a policy of its own that allows encrypt, decrypt and rewrap with it, and rotating
and trimming it (and deleting a controller's, which offboarding the controller does), and nothing else: in particular nothing on other key names, because transit creates
a missing key on encrypt when the token may do so. The service's policy is the default KEK's rules
and every controller's policy together, written anew whenever a controller's KEK is provisioned:
Vault reads a token's policies at each request, so a running keyvault can use the new KEK at once,
and a deployment that serves one controller only can be given that controller's policy alone."""

import hvac

from services.common.vault_admin import ensure_engine, ensure_transit_key, issue_token, write_policy
from services.keyvault.domain.kek import kek_name as controller_kek, vault_safe

POLICY_NAMES = {"wrapped": "consentry-keyvault", "transit-per-subject": "consentry-keyvault-per-subject"}


def keyvault_policy(kek_name: str, mount: str = "transit", destroyable: bool = False) -> str:
    """`destroyable`: a controller's KEK, which offboarding the controller deletes."""
    update = [f"{mount}/{op}/{kek_name}" for op in ("encrypt", "decrypt", "rewrap")]
    update += [f"{mount}/keys/{kek_name}/{op}" for op in ("rotate", "config", "trim")]
    rules = [f'path "{path}" {{ capabilities = ["update"] }}' for path in update]
    key = '["read", "delete"]' if destroyable else '["read"]'
    rules.append(f'path "{mount}/keys/{kek_name}" {{ capabilities = {key} }}')
    return "\n".join(rules) + "\n"


def per_subject_policy(mount: str = "transit", prefix: str = "subject-") -> str:
    """Create and delete subject keys explicitly; encrypt only with "update", which never creates a
    key, so a shredded subject's key cannot come back through an encrypt call."""
    rules = [f'path "{mount}/keys/{prefix}*" {{ capabilities = ["create", "read", "update", "delete"] }}']
    rules += [f'path "{mount}/{op}/{prefix}*" {{ capabilities = ["update"] }}' for op in ("encrypt", "decrypt", "hmac")]
    return "\n".join(rules) + "\n"


def controller_policy(service_policy: str, controller_id: str) -> str:
    """The name of the policy of one controller's KEK."""
    return f"{service_policy}-controller-{vault_safe(controller_id)}"


def ensure_kek(admin: hvac.Client, backend: str = "wrapped", kek_name: str = "consentry-kek", mount: str = "transit",
               policy: str | None = None, controller_id: str | None = None) -> list[str]:
    """The transit mount, the KEK (the wrapped backend's: the default controller's, or with
    `controller_id` that controller's, and its own policy) and the service's policy; what it changed."""
    changed = [f"secrets engine {mount}/"] if ensure_engine(admin, "transit", mount) else []
    policy = (policy or POLICY_NAMES[backend]).lower()  # as Vault stores (and lists) every policy name
    if backend != "wrapped":
        if controller_id is not None:
            raise ValueError("the transit-per-subject backend has no KEK per controller: each subject has a key")
        return changed + ([f"policy {policy}"] if write_policy(admin, policy, per_subject_policy(mount)) else [])
    name = controller_kek(kek_name, controller_id, "")
    if ensure_transit_key(admin, name, "aes256-gcm96", mount):
        changed.append(f"transit key {mount}/{name}")
    if controller_id is not None:
        own = controller_policy(policy, controller_id)
        changed += [f"policy {own}"] if write_policy(admin, own, keyvault_policy(name, mount, destroyable=True)) else []
    return changed + ([f"policy {policy}"] if _write_service_policy(admin, policy, kek_name, mount) else [])


def _write_service_policy(admin: hvac.Client, policy: str, kek_name: str, mount: str) -> bool:
    """The default KEK's rules and those of every controller's policy, in a stable order. Written
    until the controllers' policies stay as they were read: a run for another controller at the same
    time may have written without this one's, and the last run to write reads again after it."""
    prefix, wrote = controller_policy(policy, ""), False
    while True:
        names = _controller_policies(admin, prefix)
        rules = keyvault_policy(kek_name, mount) + "".join(admin.sys.read_acl_policy(n)["data"]["policy"]
                                                            for n in names)
        wrote = write_policy(admin, policy, rules) or wrote
        if _controller_policies(admin, prefix) == names:
            return wrote


def _controller_policies(admin: hvac.Client, prefix: str) -> list[str]:
    return sorted(n for n in admin.sys.list_acl_policies()["data"]["keys"] if n.startswith(prefix))


def provision(admin: hvac.Client, backend: str = "wrapped", kek_name: str = "consentry-kek",
              mount: str = "transit", controllers: tuple[str, ...] = ()) -> str:
    """The default KEK and the KEKs of `controllers`; returns a token that carries only the policy of
    the chosen backend."""
    ensure_kek(admin, backend, kek_name, mount)
    for controller_id in controllers if backend == "wrapped" else ():
        ensure_kek(admin, backend, kek_name, mount, controller_id=controller_id)
    return issue_token(admin, POLICY_NAMES[backend])
