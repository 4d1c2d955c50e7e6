"""The gRPC servers under test (the services, the echo baselines) as managed child processes.

They reuse the dev platform's `ManagedProcess` (own process group, log file, SIGTERM then SIGKILL of
the whole tree, stop at interpreter exit) and are declared ready by the standard gRPC health check
over the same transport the benchmark uses.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common.load import Target
from bench.common.platform import ManagedProcess

REPO = Path(__file__).resolve().parents[2]


def child_env(extra: dict[str, str]) -> dict[str, str]:
    # Children run with cwd = their run dir; the repository root makes `bench` importable there, and a
    # developer's CONSENTRY_* variables must not reconfigure what we measure.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTRY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


def serving(target: Target) -> bool:
    """True when the server answers the gRPC health check for the whole server ("") with SERVING."""
    address = f"127.0.0.1:{target.port}"
    if target.tls is None:
        channel = grpc.insecure_channel(address)
    else:
        ca, cert, key = (p.read_bytes() for p in target.tls)
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca, key, cert))
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


class GrpcServerProcess(ManagedProcess):
    """`python -m <module> ...` serving gRPC on 127.0.0.1:<port>; "{port}" in the arguments is filled in."""

    def __init__(self, run_dir: Path, name: str, module_args: list[str], client_tls: tuple[Path, Path, Path] | None,
                 env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.name = name  # ManagedProcess names its log and pid files after it
        super().__init__(run_dir, port)
        self.module_args = module_args
        self.client_tls = client_tls
        self.env = child_env(env or {})

    @property
    def target(self) -> Target:
        return Target(self.port, self.client_tls)

    def command(self) -> list[str]:
        return [sys.executable, "-m", *(arg.replace("{port}", str(self.port)) for arg in self.module_args)]

    def popen_kwargs(self) -> dict[str, Any]:
        return {"env": self.env}

    def wait_ready(self, timeout: float) -> None:
        self.wait_until(lambda: serving(self.target), timeout, "SERVING on the gRPC health check")


# Keyvault backends (CONSENTRY_KEYVAULT_BACKEND). Each runs as its own keyvault process, with its own
# database and its own least-privilege Vault token, and is measured in the same rounds as the others.
KEYVAULT_BACKENDS = ("wrapped", "transit-per-subject")


def keyvault_role(backend: str) -> str:
    """The process's name in CPU figures and logs."""
    return "keyvault" if backend == "wrapped" else f"keyvault-{backend}"


def keyvault_database(backend: str) -> str:
    return "keyvault" if backend == "wrapped" else "keyvault_" + backend.replace("-", "_")


def keyvault_server(run_dir: Path, backend: str, env: dict[str, str], client_tls: tuple[Path, Path, Path],
                    port: int) -> GrpcServerProcess:
    """`python -m services.keyvault` for one backend; `env` holds every setting but the backend's own."""
    return GrpcServerProcess(run_dir, keyvault_role(backend), ["services.keyvault"], client_tls,
                             {**env, "CONSENTRY_KEYVAULT_BACKEND": backend}, port)
