"""Session-wide real infrastructure: PostgreSQL, the Tansu broker and OpenBao run as processes on
free loopback ports for the whole test session."""

import os

# The launchers fork to run PostgreSQL as its own user while the tests' gRPC channels are busy, and
# grpcio's fork handlers can crash such a child before it execs (grpc/grpc#43055: initdb "exited with
# code -11"). The suite forks only to exec, so it needs no fork support; grpcio reads this on import.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import asyncio  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

assert "grpc" not in sys.modules, "grpc was imported before GRPC_ENABLE_FORK_SUPPORT was set"
from consentry_dev.launchers import OpenBaoProcess, PostgresProcess, TansuProcess, broker_tls  # noqa: E402
from consentry_dev.launchers.process import use_port_slice  # noqa: E402
from services.common.pki import DevCA  # noqa: E402

# `make test` runs two workers (pytest-xdist), each with a stack of its own: each picks ports from its
# own half of the range.
if "PYTEST_XDIST_WORKER" in os.environ:
    use_port_slice(int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw")),
                   int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))

# Each service's fixtures start it only when a test asks for it.
pytest_plugins = ["tests.consent.fixtures", "tests.keyvault.fixtures", "tests.audit.fixtures", "tests.dsr.fixtures",
                  "tests.portal.fixtures", "tests.browser"]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def postgres(run_dir: Path):
    with PostgresProcess(run_dir / "pg").start() as pg:
        yield pg


@pytest.fixture(scope="session")
def kafka(run_dir: Path, dev_ca: DevCA):
    """Behind its TLS front: every client shows a certificate from the session's CA."""
    with TansuProcess(run_dir / "kafka", tls=broker_tls(dev_ca)).start() as broker:
        yield broker


@pytest.fixture(scope="session")
def vault(run_dir: Path):
    with OpenBaoProcess(run_dir / "bao").start() as bao:
        yield bao


@pytest.fixture(scope="session")
def dev_ca(run_dir: Path) -> DevCA:
    return DevCA(run_dir / "pki")


def _print_tasks(*_) -> None:
    """`kill -USR1 <pytest>`: what every asyncio task awaits, in /tmp/consentry-tasks-<pid>.txt (pytest
    captures the test's own output), to find what a hung test waits for."""
    loop = asyncio.events._get_running_loop()
    with open(f"/tmp/consentry-tasks-{os.getpid()}.txt", "w") as out:
        for task in asyncio.all_tasks(loop) if loop else ():
            print(repr(task), file=out)
            for frame in task.get_stack():  # frames of compiled code have no line to print
                print(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}", file=out)


signal.signal(signal.SIGUSR1, _print_tasks)
