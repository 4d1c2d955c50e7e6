"""Opening an mTLS channel to a dev-stack service from endpoints.json."""

import json
from pathlib import Path

import grpc

DEFAULT_RUN_DIR = Path(".run/dev")


class CliError(Exception):
    """What the user asked cannot be done; the message says why and what to do instead."""


def load_endpoints(run_dir: Path = DEFAULT_RUN_DIR) -> dict:
    path = run_dir / "endpoints.json"
    if not path.exists():
        raise SystemExit(f"{path} not found: start the platform with `make dev` (or `consentry dev up`) first")
    return json.loads(path.read_text())


def channel(endpoints: dict, service: str, client: str) -> grpc.aio.Channel:
    files = endpoints["clients"].get(client)
    if files is None:
        known = ", ".join(sorted(endpoints["clients"]))
        raise CliError(f"no client certificate named {client!r} on this platform; --client is one of: {known}")
    creds = grpc.ssl_channel_credentials(
        Path(endpoints["ca"]).read_bytes(), Path(files["key"]).read_bytes(), Path(files["cert"]).read_bytes())
    return grpc.aio.secure_channel(endpoints[service], creds)
