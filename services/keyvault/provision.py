"""Provisioning of Vault/OpenBao for keyvault, as an operator (or the dev stack) runs it once with an
administrative token: the transit mount, the key-encryption key, and a least-privilege policy.

The policy allows encrypt and decrypt on the KEK and nothing else: in particular not on other key
names, because transit creates a missing key on encrypt when the token may do so."""

import hvac

POLICY_NAME = "consentry-keyvault"


def keyvault_policy(kek_name: str, mount: str = "transit") -> str:
    return (f'path "{mount}/encrypt/{kek_name}" {{ capabilities = ["update"] }}\n'
            f'path "{mount}/decrypt/{kek_name}" {{ capabilities = ["update"] }}\n')


def provision(admin: hvac.Client, kek_name: str = "consentry-kek", mount: str = "transit") -> str:
    """Returns a token that carries only the keyvault policy."""
    if f"{mount}/" not in admin.sys.list_mounted_secrets_engines():
        admin.sys.enable_secrets_engine("transit", path=mount)
    admin.secrets.transit.create_key(kek_name, key_type="aes256-gcm96", mount_point=mount)
    admin.sys.create_or_update_policy(POLICY_NAME, keyvault_policy(kek_name, mount))
    token = admin.auth.token.create(policies=[POLICY_NAME], no_default_policy=True, renewable=True, ttl="768h")
    return token["auth"]["client_token"]
