"""Provisioning of Vault/OpenBao for keyvault, as an operator (or the dev stack) runs it once with an
administrative token: the transit mount, the key-encryption key, and a least-privilege policy.

The policy allows encrypt, decrypt and rewrap with the KEK, and rotating and trimming it, and nothing
else: in particular nothing on other key names, because transit creates a missing key on encrypt
when the token may do so."""

import hvac

from services.common.vault_admin import ensure_engine, ensure_transit_key, issue_token, write_policy

POLICY_NAMES = {"wrapped": "consentry-keyvault", "transit-per-subject": "consentry-keyvault-per-subject"}


def keyvault_policy(kek_name: str, mount: str = "transit") -> str:
    update = [f"{mount}/{op}/{kek_name}" for op in ("encrypt", "decrypt", "rewrap")]
    update += [f"{mount}/keys/{kek_name}/{op}" for op in ("rotate", "config", "trim")]
    rules = [f'path "{path}" {{ capabilities = ["update"] }}' for path in update]
    rules.append(f'path "{mount}/keys/{kek_name}" {{ capabilities = ["read"] }}')
    return "\n".join(rules) + "\n"


def per_subject_policy(mount: str = "transit", prefix: str = "subject-") -> str:
    """Create and delete subject keys explicitly; encrypt only with "update", which never creates a
    key, so a shredded subject's key cannot come back through an encrypt call."""
    rules = [f'path "{mount}/keys/{prefix}*" {{ capabilities = ["create", "read", "update", "delete"] }}']
    rules += [f'path "{mount}/{op}/{prefix}*" {{ capabilities = ["update"] }}' for op in ("encrypt", "decrypt", "hmac")]
    return "\n".join(rules) + "\n"


def ensure_kek(admin: hvac.Client, backend: str = "wrapped", kek_name: str = "consentry-kek", mount: str = "transit",
               policy: str | None = None) -> list[str]:
    """The transit mount, the KEK (the wrapped backend's) and the backend's policy; what it changed."""
    changed = [f"secrets engine {mount}/"] if ensure_engine(admin, "transit", mount) else []
    if backend == "wrapped":
        if ensure_transit_key(admin, kek_name, "aes256-gcm96", mount):
            changed.append(f"transit key {mount}/{kek_name}")
        rules = keyvault_policy(kek_name, mount)
    else:
        rules = per_subject_policy(mount)
    policy = policy or POLICY_NAMES[backend]
    return changed + ([f"policy {policy}"] if write_policy(admin, policy, rules) else [])


def provision(admin: hvac.Client, backend: str = "wrapped", kek_name: str = "consentry-kek",
              mount: str = "transit") -> str:
    """Returns a token that carries only the policy of the chosen backend."""
    ensure_kek(admin, backend, kek_name, mount)
    return issue_token(admin, POLICY_NAMES[backend])
