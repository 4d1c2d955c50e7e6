"""The `consentry` command run in the test's own process against a session's service: the
endpoints file `consentry dev up` would write, for that one service and one client identity."""

import asyncio
import json
from pathlib import Path

from services.cli.main import main
from services.common.pki import DevCA


def endpoints(run_dir: Path, ca: DevCA, service: str, port: int, client: str = "admin") -> Path:
    issued = ca.issue_client(client)
    (run_dir / "endpoints.json").write_text(json.dumps({
        service: f"localhost:{port}", "ca": str(ca.ca.cert),
        "clients": {client: {"cert": str(issued.cert), "key": str(issued.key)}}}))
    return run_dir


async def consentry(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))  # its own event loop, while the session's serves
