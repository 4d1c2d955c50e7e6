"""Vault/OpenBao set-up as an administrator runs it before a service first starts (`consentry
provision`, the dev platform): secrets engines, keys and policies. Each step leaves what exists as it
is (a key is never replaced: what it encrypted or signed depends on it), so running it again changes
nothing; each says whether it changed anything. A token is issued only when asked for."""

import hvac

TOKEN_TTL = "768h"


def ensure_engine(admin: hvac.Client, kind: str, mount: str, options: dict | None = None) -> bool:
    if f"{mount}/" in admin.sys.list_mounted_secrets_engines()["data"]:
        return False
    admin.sys.enable_secrets_engine(kind, path=mount, options=options)
    return True


def ensure_transit_key(admin: hvac.Client, name: str, key_type: str, mount: str) -> bool:
    try:
        admin.secrets.transit.read_key(name, mount_point=mount)
        return False
    except hvac.exceptions.InvalidPath:
        admin.secrets.transit.create_key(name, key_type=key_type, mount_point=mount)
        return True


def write_policy(admin: hvac.Client, name: str, rules: str) -> bool:
    """Writes the policy unless it already says exactly this; whether it wrote."""
    try:
        if admin.sys.read_policy(name)["data"]["rules"] == rules:
            return False
    except hvac.exceptions.InvalidPath:
        pass
    admin.sys.create_or_update_policy(name, rules)
    return True


def issue_token(admin: hvac.Client, policy: str, **meta: str) -> str:
    """A token that carries only `policy`."""
    token = admin.auth.token.create(policies=[policy], no_default_policy=True, renewable=True, ttl=TOKEN_TTL,
                                    meta=meta or None)
    return token["auth"]["client_token"]


def ensure_auth_method(admin: hvac.Client, kind: str, mount: str) -> bool:
    if f"{mount}/" in admin.sys.list_auth_methods()["data"]:
        return False
    admin.sys.enable_auth_method(kind, path=mount)
    return True


def write_entry(admin: hvac.Client, path: str, wanted: dict) -> bool:
    """Writes `wanted` at `path` (a role, a method's config) unless what is there already says the
    same for each of its fields; whether it wrote."""
    try:
        current = admin.adapter.get(f"/v1/{path}")["data"]
    except hvac.exceptions.InvalidPath:
        current = {}
    if all(current.get(field) == value for field, value in wanted.items()):
        return False
    admin.adapter.post(f"/v1/{path}", json=wanted)
    return True
