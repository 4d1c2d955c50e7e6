"""Which key-encryption key wraps a controller's subject keys. Each controller has its own KEK in
Vault transit, so rotating, trimming or destroying one leaves every other controller's keys alone.
The default controller (erasure key setting `default_controller`) keeps the KEK every key was wrapped
under before controllers: its name is the configured one, unchanged."""

import re

# Vault names transit keys with letters, digits, "_", "-" and "." (a word character at each end), and
# lower-cases policy names, while controller ids also hold ":" and "@" and are case-sensitive.
_KEPT = re.compile(r"[a-z0-9]|-(?!$)")


def vault_safe(controller_id: str) -> str:
    """A controller id as a Vault name: lower-case letters, digits and inner "-" stay; every other
    character becomes "_" and its hex code, so two controllers never share a name ("Acme" is
    "_41cme", "a:b" is "a_3ab")."""
    return "".join(c if _KEPT.match(controller_id, i) else f"_{ord(c):02x}" for i, c in enumerate(controller_id))


def kek_name(base: str, controller_id: str | None, default_controller: str) -> str:
    """The KEK of a controller's subject keys: `base` for the default controller (None: the keys from
    before controllers), `base` and the controller's Vault-safe id for every other."""
    if controller_id is None or controller_id == default_controller:
        return base
    return f"{base}-{vault_safe(controller_id)}"
