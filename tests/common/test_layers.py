"""Every service has the same layers, and dependencies point inward: the domain is plain Python, the
service layer (use cases, unit of work) knows neither the database driver nor Kafka, gRPC or
protobuf, and events never reach into the api. Read from the source, so a new module is held to it
the day it is added."""

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
NAMES = ("consent", "keyvault", "dsr", "audit", "portal")
# Those the service layer reaches only through the protocols it declares (service/ports.py).
DRIVERS = ("asyncpg", "aiokafka", "grpc")
OUTER = ("service", "store", "api", "events", "web")


def imported(path: Path) -> list[str]:
    """Every module the file imports, and for `from m import n` also `m.n` (n may be a module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"  # absolute only, so the checks below see all
            found += [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def modules(layer: str) -> dict[str, list[str]]:
    return {f"{path.relative_to(SERVICES.parent)}": imported(path)
            for name in NAMES for path in sorted((SERVICES / name / layer).glob("*.py"))}


def is_driver_or_protobuf(module: str) -> bool:
    return module.split(".")[0] in DRIVERS or any(part.endswith(("_pb2", "_pb2_grpc")) for part in module.split("."))


def within(module: str, service: str, layers: tuple[str, ...]) -> bool:
    return any(module == f"services.{service}.{layer}" or module.startswith(f"services.{service}.{layer}.")
               for layer in layers)


@pytest.mark.parametrize("layer", ["domain", "service", "events"])
def test_the_scan_reads_every_service_and_its_imports(layer):
    found = modules(layer)

    having = {name for name in NAMES if (SERVICES / name / layer).is_dir()}  # the portal consumes no events
    assert {path.split("/")[1] for path in found} == having and len(having) >= len(NAMES) - 1
    assert sum(len(imports) for imports in found.values()) > 3 * len(found)


def test_the_check_below_would_see_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import asyncpg\nfrom consentry.dsr.v1 import dsr_pb2\nfrom services.dsr.store import rows\n")

    assert [m for m in imported(sample) if is_driver_or_protobuf(m)] == ["asyncpg", "consentry.dsr.v1.dsr_pb2"]
    assert [m for m in imported(sample) if within(m, "dsr", OUTER)] == ["services.dsr.store", "services.dsr.store.rows"]


@pytest.mark.parametrize("layer", ["domain", "service"])
def test_domain_and_use_cases_import_no_driver_kafka_grpc_or_protobuf(layer):
    offending = {path: bad for path, imports in modules(layer).items()
                 if (bad := [m for m in imports if is_driver_or_protobuf(m)])}

    assert offending == {}


def test_the_domain_imports_no_outer_layer():
    offending = {path: bad for path, imports in modules("domain").items()
                 if (bad := [m for m in imports if within(m, path.split("/")[1], OUTER)])}

    assert offending == {}


def test_use_cases_reach_store_api_and_events_only_through_their_own_protocols():
    offending = {path: bad for path, imports in modules("service").items()
                 if (bad := [m for m in imports if within(m, path.split("/")[1], ("store", "api", "events", "web"))])}

    assert offending == {}


def test_events_do_not_import_the_api():
    offending = {path: bad for path, imports in modules("events").items()
                 if (bad := [m for m in imports if within(m, path.split("/")[1], ("api",))])}

    assert offending == {}
