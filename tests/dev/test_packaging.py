"""What an installed package (the image's: `pip install .`) holds beside the code: every template,
migration and static file of the services. Built into a wheel from what the Containerfile copies, in a
directory of its own: a checkout's egg-info would list files the package data does not name."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (".html", ".txt", ".sql", ".css", ".js")
COPIED = ("pyproject.toml", "README.md", "services", "consentry_client", "gen")  # as the Containerfile


def test_every_file_a_service_reads_is_in_the_wheel(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in COPIED:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (ROOT / name).is_dir() else {}))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("consentry-*.whl")
    packed = set(zipfile.ZipFile(wheel).namelist())
    needed = {p.relative_to(ROOT).as_posix() for p in (ROOT / "services").rglob("*")
              if p.suffix in SHIPPED and "__pycache__" not in p.parts}

    assert "services/portal/web/templates/console/case.html" in needed
    assert sorted(needed - packed) == []
