"""Keyed tombstones. What must still recognise an erased person (a re-consent refused, a key never
re-created, a certificate naming whom it concerns) keeps HMAC-SHA256 of the id under the erasure
key, never the id and never a plain hash: a plain hash of a guessable id (a phone or employee
number) is found again by hashing the candidates. The key lives in Vault/OpenBao (KV v2); each
service reads it once at start with a token that may read nothing else."""

import base64
import hashlib
import hmac
import secrets

import asyncpg
import hvac

from services.common.vault_admin import ensure_engine, issue_token, write_policy
from services.common.vault_auth import VaultAccess

KEY_BYTES = 32
READER_POLICY = "consentry-erasure-key"
# Marks a tag where an id stood (a consent record, a guardian field): tags never look like ids.
TOMBSTONE_PREFIX = "erased:"
SCOPE_SEPARATOR = "\x1f"


class ErasureKeySettings(VaultAccess):
    vault_kubernetes_role: str = "consentry-erasure-key"
    kv_mount: str = "secret"
    path: str = "consentry/erasure-key"
    # The controller whose subjects were tagged before controllers existed (by the id alone): existing
    # data becomes its data, under the tags it already has. The same in every service; empty for a
    # deployment that began with controllers.
    default_controller: str = ""


class SubjectTagger:
    """Tags a subject of one controller: the same person at two controllers is two subjects, with
    two unrelated tags, so erasing them at one leaves the other's tombstones and keys alone."""

    def __init__(self, key: bytes, default_controller: str = "") -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"the erasure key must have at least {KEY_BYTES} bytes")
        self._key = key
        self._default_controller = default_controller

    @property
    def default_controller(self) -> str:
        return self._default_controller

    def tag(self, subject_id: str, controller_id: str | None = None) -> str:
        """None: the subject as tagged before controllers, i.e. the default controller's."""
        scoped = subject_id if controller_id is None or controller_id == self._default_controller \
            else f"{controller_id}{SCOPE_SEPARATOR}{subject_id}"  # identifiers never contain it
        return hmac.new(self._key, scoped.encode(), hashlib.sha256).hexdigest()

    def derived_key(self, label: str) -> bytes:
        """A key for references of another kind, unrelated to the tags: no identifier starts with the
        separator, so no tag is ever computed over this input."""
        return hmac.new(self._key, f"{SCOPE_SEPARATOR}{label}".encode(), hashlib.sha256).digest()

    def tombstone(self, subject_id: str, controller_id: str | None = None) -> str:
        return TOMBSTONE_PREFIX + self.tag(subject_id, controller_id)


async def pin_default_controller(conn: asyncpg.Connection | asyncpg.Pool, tagger: SubjectTagger) -> None:
    """ValueError when this database was started with another default controller: the subjects it
    already holds are tagged for that one, and tagging them for another would lose every one."""
    await conn.execute("INSERT INTO default_controller (controller_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       tagger.default_controller)
    pinned = await conn.fetchval("SELECT controller_id FROM default_controller")
    if pinned != tagger.default_controller:
        raise ValueError(f"erasure_key.default_controller is '{tagger.default_controller}', but this database's"
                         f" subjects from before controllers belong to '{pinned}' (pinned at its first start);"
                         f" set it back to '{pinned}'")


def load_tagger(settings: ErasureKeySettings) -> SubjectTagger:
    """ValueError with one readable line when Vault cannot be reached or holds no usable key: a
    service that cannot recognise erased people must not start."""
    try:
        secret = settings.vault_session().client().secrets.kv.v2.read_secret_version(
            settings.path, mount_point=settings.kv_mount, raise_on_deleted_version=True)
        key = base64.b64decode(secret["data"]["data"]["key"], validate=True)
    except Exception as error:  # noqa: BLE001 - whatever it was, the one line says where
        raise ValueError(f"erasure key {settings.kv_mount}/{settings.path} at {settings.vault_address}:"
                         f" {type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}") from None
    return SubjectTagger(key, settings.default_controller)


def reader_policy(mount: str = "secret", path: str = "consentry/erasure-key") -> str:
    return f'path "{mount}/data/{path}" {{ capabilities = ["read"] }}\n'


def ensure_erasure_key(admin: hvac.Client, mount: str = "secret", path: str = "consentry/erasure-key",
                       policy: str = READER_POLICY) -> list[str]:
    """The KV v2 mount, the key (made once, never replaced: every tombstone depends on it) and the
    readers' policy; what it changed."""
    changed = [f"secrets engine {mount}/"] if ensure_engine(admin, "kv", mount, {"version": "2"}) else []
    try:
        admin.secrets.kv.v2.read_secret_version(path, mount_point=mount, raise_on_deleted_version=True)
    except hvac.exceptions.InvalidPath:
        admin.secrets.kv.v2.create_or_update_secret(
            path, {"key": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}, mount_point=mount, cas=0)
        changed.append(f"erasure key {mount}/{path}")
    return changed + ([f"policy {policy}"] if write_policy(admin, policy, reader_policy(mount, path)) else [])


def provision_erasure_key(admin: hvac.Client, service: str, mount: str = "secret",
                          path: str = "consentry/erasure-key") -> str:
    """As an operator (or the dev stack) runs it with an administrative token: the key, once, and a
    token for `service` that may read it and nothing else."""
    ensure_erasure_key(admin, mount, path)
    return issue_token(admin, READER_POLICY, service=service)
