"""The fuzz suite's own stack, seeded world and prober (module scope: gone before the next module's
tests), and the report at the end of the session."""

from pathlib import Path

import pytest

from consentry_dev.launchers import TansuProcess, broker_tls
from services.common.pki import DevCA
from tests.fuzz.probe import Prober, ServerErrors
from tests.fuzz.profile import EXAMPLES, LONG, SEED
from tests.fuzz.report import RESULTS
from tests.fuzz.snapshot import Databases
from tests.fuzz.stack import FuzzStack
from tests.fuzz.world import seed


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def fuzz_ca(fuzz_dir):
    return DevCA(fuzz_dir / "pki")


@pytest.fixture(scope="module")
def fuzz_kafka(fuzz_dir, fuzz_ca):
    with TansuProcess(fuzz_dir / "kafka", tls=broker_tls(fuzz_ca)).start() as broker:
        yield broker


@pytest.fixture(scope="module")
async def fuzz_stack(request, fuzz_dir, fuzz_ca, postgres, vault, fuzz_kafka):
    """Named by the module's STACK (default "fuzz"): each module's stack has databases and keys of its own."""
    stack = FuzzStack(fuzz_dir, fuzz_ca, postgres, vault, fuzz_kafka, getattr(request.module, "STACK", "fuzz"))
    try:
        yield await stack.start()
    finally:
        await stack.stop()


@pytest.fixture(scope="module")
async def fuzz_prober(fuzz_stack):
    databases = await Databases(fuzz_stack.dsns).open()
    try:
        with ServerErrors().installed() as errors:
            yield Prober(fuzz_stack, databases, errors)
    finally:
        await databases.close()


@pytest.fixture(scope="module")
async def fuzz_worlds(fuzz_stack, fuzz_prober):
    """A world of its own for each RPC, so what fuzzing one RPC did (a new notice version, erased
    subjects) does not decide what the next can reach. Seeded a service at a time, when its first
    RPC comes up: one quiet period (the seeding's relays and sequencer) serves them all, and a global
    effect of one service's fuzzing (ExpireConsents expires every consent) misses the next service's."""
    worlds = {}

    async def world_for(method):
        if method.full_name not in worlds:
            for rpc in method.containing_service.methods:
                worlds[rpc.full_name] = await seed(fuzz_stack)
            await fuzz_prober.databases.quiesce()
        return worlds[method.full_name]
    return world_for


def _report_path(config) -> Path:
    return config.rootpath / ".run" / "fuzz" / "report.json"


def pytest_sessionfinish(session):
    """Written by the process that fuzzed (a worker too, when the suite runs on several)."""
    if RESULTS.rpcs:
        RESULTS.write(_report_path(session.config),
                      {"examples_per_rpc": EXAMPLES, "random": LONG and SEED is None, "seed": SEED})


def pytest_terminal_summary(terminalreporter, config):
    if not RESULTS.rpcs:  # fuzzed elsewhere (a worker): its report is the file
        return
    terminalreporter.section("fuzz: inputs and status codes per RPC")
    terminalreporter.write_line(RESULTS.table())
    terminalreporter.write_line(f"report: {_report_path(config)}")
