"""`consentry dev up` (what `make dev` runs) brings the platform up, serves the printed commands,
and leaves no process behind on Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CONSENTRY = [sys.executable, "-m", "services.cli.main"]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and "pytest" not in cmdline:
            found.append(cmdline)
    return found


def consentry(*args: str, run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CONSENTRY, *args, "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=60)


def test_dev_up_serves_the_demo_and_stops_cleanly(tmp_path):
    run_dir, ready = tmp_path / "dev", tmp_path / "ready"
    # A run dir relative to where it is started, as `make dev` gives it.
    dev = subprocess.Popen([*CONSENTRY, "dev", "up", "--run-dir", "dev", "--ready-file", str(ready)],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert dev.poll() is None, dev.stdout.read()
            assert time.monotonic() < deadline, "dev stack did not come up"
            time.sleep(0.2)

        purpose = ["--purpose", "demo-gate-access"]
        granted = consentry("consent", "grant", "--subject", "alice", *purpose, run_dir=run_dir)
        checked = consentry("consent", "check", "--subject", "alice", *purpose, run_dir=run_dir)
        child = consentry("consent", "grant", "--subject", "kid", "--age", "9", *purpose, run_dir=run_dir)
        data_key = consentry("keyvault", "datakey", "--subject", "alice", *purpose, run_dir=run_dir)
        export, key = tmp_path / "alice.jsonl", tmp_path / "audit.pem"
        while True:  # the audit log integrates her events within moments
            consentry("audit", "export", "--subject", "alice", "--out", str(export), run_dir=run_dir)
            if len(export.read_text().splitlines()) >= 3 or time.monotonic() > deadline + 30:
                break
            time.sleep(0.3)
        key.write_text(consentry("audit", "public-key", run_dir=run_dir).stdout)
        verified = subprocess.run([*CONSENTRY, "audit", "verify", str(export), "--public-key", str(key)],
                                  capture_output=True, text=True, timeout=60)
        shredded = consentry("keyvault", "shred", "--subject", "alice", run_dir=run_dir)
        request = json.loads(consentry("dsr", "submit", "--type", "access", "--subject", "demo-mei",
                                       run_dir=run_dir).stdout)
        consentry("dsr", "verify", request["requestId"], run_dir=run_dir)
        for _ in range(100):
            shown = json.loads(consentry("dsr", "show", request["requestId"], run_dir=run_dir).stdout)
            if shown["status"] == "COMPLETED":
                break
            time.sleep(0.3)
        exported = consentry("dsr", "export", request["requestId"], "--out-dir", str(tmp_path / "export"),
                             run_dir=run_dir)
        after = consentry("keyvault", "datakey", "--subject", "alice", *purpose, run_dir=run_dir)
        endpoints = json.loads((run_dir / "endpoints.json").read_text())
    finally:
        dev.send_signal(signal.SIGINT)
        output, _ = dev.communicate(timeout=60)

    assert granted.returncode == 0, granted.stdout + granted.stderr
    assert json.loads(checked.stdout)["decision"] == "DECISION_ALLOW"
    assert child.returncode == 1 and "guardian" in child.stdout
    assert json.loads(data_key.stdout)["plaintext_key_bytes"] == 32
    assert json.loads(shredded.stdout)["certificate"]["backend"] == "wrapped"
    assert after.returncode == 1 and "erased" in after.stdout
    assert shown["status"] == "COMPLETED" and [t["status"] for t in shown["timeline"]][0] == "RECEIVED"
    # The reference face gate enrolled demo-mei at start and answered the access task.
    assert [p["name"] for p in shown["processors"]] == ["demo-gate"], shown
    document = json.loads(Path(json.loads(exported.stdout)["json"]).read_text())
    assert document["processors"]["demo-gate"]["templates"][0]["purposeId"] == "demo-gate-access"
    assert verified.returncode == 0 and json.loads(verified.stdout)["entriesVerified"] >= 2, verified.stdout
    assert set(endpoints) >= {"consent", "keyvault", "audit", "dsr", "postgres", "kafka", "vault"}
    assert "consentry consent check" in output
    assert dev.returncode == 0
    assert processes_mentioning(str(run_dir)) == []
