"""Provisioning of Vault/OpenBao for keyvault, as an operator (or the dev stack) runs it once with an
administrative token: the transit mount, the key-encryption key, and a least-privilege policy.

The policy allows encrypt, decrypt and rewrap with the KEK, and rotating and trimming it, and nothing
else: in particular nothing on other key names, because transit creates a missing key on encrypt
when the token may do so."""

import hvac

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


def provision(admin: hvac.Client, backend: str = "wrapped", kek_name: str = "consentry-kek",
              mount: str = "transit") -> str:
    """Returns a token that carries only the policy of the chosen backend."""
    if f"{mount}/" not in admin.sys.list_mounted_secrets_engines()["data"]:
        admin.sys.enable_secrets_engine("transit", path=mount)
    if backend == "wrapped":
        admin.secrets.transit.create_key(kek_name, key_type="aes256-gcm96", mount_point=mount)
        policy = keyvault_policy(kek_name, mount)
    else:
        policy = per_subject_policy(mount)
    admin.sys.create_or_update_policy(POLICY_NAMES[backend], policy)
    token = admin.auth.token.create(policies=[POLICY_NAMES[backend]], no_default_policy=True, renewable=True,
                                    ttl="768h")
    return token["auth"]["client_token"]
