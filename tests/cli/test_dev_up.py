"""`consentry dev up` (what `make dev` runs) brings the platform up, serves the printed commands,
keeps every secret from other local users, answers mistakes with one clear line, and leaves no
process behind on Ctrl-C."""

import base64
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import asyncpg
import pytest

from consentry_dev.launchers.process import run_async
from tests.portal.staff import Account, Staff

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


def readable_by_others(path: Path) -> bool:
    """Whether a user who is neither the owner nor in the file's group could read it."""
    if not path.stat().st_mode & stat.S_IROTH:
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.parents)


def secrets_of(run_dir: Path) -> list[str]:
    """Every secret the dev stack made: the OpenBao root token, the PostgreSQL and service passwords
    (which its processes hold in their environment)."""
    found = [(run_dir / "openbao" / "root-token").read_text().strip(),
             (run_dir / "postgres" / "superuser-password").read_text().strip()]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if not Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(run_dir):
                continue
            environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        for entry in environ:
            name, _, value = entry.partition("=")
            if name.endswith(("DATABASE_URL", "VAULT_TOKEN")) and value:
                found.append(value.split("@")[0].rsplit(":", 1)[-1] if "@" in value else value)
    return sorted(set(found))


def command_lines(run_dir: Path) -> list[str]:
    """What every local user can read of the stack's processes: their command lines."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(run_dir):
                found.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        except OSError:
            continue
    return found


def consentry(*args: str, run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*CONSENTRY, *args, "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=60)


README = Path(__file__).resolve().parents[2] / "README.md"
CONSENTRY_SH = f"{sys.executable} -m services.cli.main"


def readme_walk() -> list[tuple[str, str]]:
    """The commands of the README's walk (the block after "While `make dev` runs, try"), each with what
    its comment says it answers."""
    block = README.read_text().split("While `make dev` runs, try", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    steps, command, said = [], "", ""
    for line in block.splitlines():
        code, _, comment = line.partition("#")
        if not code.strip():  # a comment going on from the line before
            if command:
                said += " " + comment.strip()
            elif steps:
                steps[-1] = (steps[-1][0], steps[-1][1] + " " + comment.strip())
            continue
        command, said = command + " " + code.strip().removesuffix("\\"), said + " " + comment.strip()
        if not code.rstrip().endswith("\\"):
            steps.append((command.strip(), said.strip()))
            command, said = "", ""
    return steps


def walk_the_readme(run_dir: Path, walk_dir: Path) -> list[tuple[str, str, subprocess.CompletedProcess]]:
    """Runs the walk as a newcomer would, from a directory whose .run/dev is the stack's, for a person of
    its own (walker, not alice), each request id as the step before printed it."""
    (walk_dir / ".run").mkdir(parents=True)
    (walk_dir / ".run" / "dev").symlink_to(run_dir.resolve())
    walked, request_id = [], ""
    for command, expected in readme_walk():
        line = command.replace(".venv/bin/consentry", CONSENTRY_SH).replace("alice", "walker")
        answer = subprocess.run(["bash", "-c", line.replace("REQUEST_ID", request_id)], cwd=walk_dir,
                                capture_output=True, text=True, timeout=120)
        if found := re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", answer.stdout):
            request_id = request_id if "dsr submit" not in command else found.group(0)
        walked.append((command, expected, answer))
    return walked


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

        walked = walk_the_readme(run_dir, tmp_path / "walk")
        purpose = ["--purpose", "demo-gate-access"]
        purposes = consentry("consent", "purposes", "--json", run_dir=run_dir)
        purpose_shown = consentry("consent", "purpose", *purpose, run_dir=run_dir)  # a table, as people read it
        granted = consentry("consent", "grant", "--subject", "alice", "--age", "30", "--alternative-offered", *purpose,
                            run_dir=run_dir)
        unsaid = consentry("consent", "grant", "--subject", "zoe", *purpose, run_dir=run_dir)
        printed = dict(line.split(": ", 1) for line in granted.stdout.splitlines()
                       if line.startswith(("receipt: ", "signature: ")))
        (tmp_path / "receipt.json").write_text(printed["receipt"] + "\n")  # as a shell would save it
        receipt = ["consent", "receipt", "--receipt-file", str(tmp_path / "receipt.json"), "--signature"]
        page = consentry(*receipt, printed["signature"], "--language", "zh-CN", run_dir=run_dir)
        forged = consentry(*receipt, base64.b64encode(bytes(64)).decode(), run_dir=run_dir)
        kept = tmp_path / "ann-receipt.json"  # as the README has it: written by grant, read back alone
        consentry("consent", "grant", "--subject", "ann", "--age", "30", "--alternative-offered", *purpose,
                  "--receipt-out", str(kept), run_dir=run_dir)
        kept_page = consentry("consent", "receipt", "--receipt-file", str(kept), "--language", "en", run_dir=run_dir)
        unsigned = consentry("consent", "receipt", "--receipt-file", str(tmp_path / "receipt.json"), run_dir=run_dir)
        checked = consentry("consent", "check", "--subject", "alice", *purpose, "--json", run_dir=run_dir)
        link = consentry("portal", "link", "--subject", "alice", "--language", "zh-CN", run_dir=run_dir)
        with urllib.request.urlopen(link.stdout.splitlines()[0], timeout=10) as answer:  # the page the link opens
            portal_page = answer.read().decode()
        child = consentry("consent", "grant", "--subject", "kid", "--age", "9", "--alternative-offered", *purpose,
                          run_dir=run_dir)
        data_key = consentry("keyvault", "datakey", "--subject", "alice", *purpose, "--json", run_dir=run_dir)
        export, key = tmp_path / "alice.jsonl", tmp_path / "audit.pem"
        while True:  # the audit log integrates her events within moments
            consentry("audit", "export", "--subject", "alice", "--controller", "acme-campus", "--out", str(export), run_dir=run_dir)
            if len(export.read_text().splitlines()) >= 3 or time.monotonic() > deadline + 30:
                break
            time.sleep(0.3)
        key.write_text(consentry("audit", "public-key", run_dir=run_dir).stdout)
        verified = subprocess.run([*CONSENTRY, "audit", "verify", str(export), "--public-key", str(key),
                                   "--controller", "acme-campus", "--json"],
                                  capture_output=True, text=True, timeout=60)
        shredded = consentry("keyvault", "shred", "--subject", "alice", "--controller", "acme-campus", run_dir=run_dir)
        (tmp_path / "certificate.json").write_text(shredded.stdout)
        concerns = {subject: json.loads(consentry("keyvault", "verify", "--subject", subject, "--controller",
                                                  "acme-campus", "--certificate", str(tmp_path / "certificate.json"),
                                                  "--json", run_dir=run_dir).stdout)
                    for subject in ("alice", "bob")}
        request = json.loads(consentry("dsr", "submit", "--type", "access", "--subject", "demo-mei",
                                       "--controller", "acme-campus", "--json", run_dir=run_dir).stdout)
        shown = json.loads(consentry("dsr", "verify", request["requestId"], "--wait", "--json", run_dir=run_dir).stdout)
        impatient = consentry("dsr", "show", request["requestId"], "--wait", "--wait-limit", "-1", run_dir=run_dir)
        exported = consentry("dsr", "export", request["requestId"], "--out-dir", str(tmp_path / "export"), "--json",
                             run_dir=run_dir)
        after = consentry("keyvault", "datakey", "--subject", "alice", *purpose, run_dir=run_dir)
        gate_env = run_dir.resolve() / "face-gate.env"  # the banner's command for the face gate, as printed
        gate_shows = subprocess.run([sys.executable, "-m", "examples.face_gate", "--env-file", str(gate_env), "show",
                                     "--subject", "demo-mei"], capture_output=True, text=True, timeout=60,
                                    cwd=Path(__file__).resolve().parents[2])
        endpoints = json.loads((run_dir / "endpoints.json").read_text())
        unknown_language = consentry("consent", "grant", "--subject", "bob", "--language", "fr", "--age", "30",
                                     "--alternative-offered", *purpose,
                                     run_dir=run_dir)
        stranger = consentry("consent", "check", "--subject", "bob", *purpose, "--client", "stranger", run_dir=run_dir)
        cut_short = subprocess.Popen([*CONSENTRY, "consent", "history", "--subject", "alice", *purpose, "--run-dir",
                                      str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cut_short.stdout.close()  # as `| head` does once it has read enough
        cut_short_stderr = cut_short.stderr.read()
        cut_short.wait(timeout=60)
        secrets = secrets_of(run_dir)
        exposed = [str(p) for p in run_dir.rglob("*") if p.is_file() and readable_by_others(p)
                   and any(secret in p.read_text(errors="replace") or "PRIVATE KEY" in p.read_text(errors="replace")
                           for secret in secrets)]
        listed = command_lines(run_dir)
        denied = subprocess.run(["runuser", "-u", "nobody", "--", "cat", str(run_dir / "openbao" / "root-token")],
                                capture_output=True, text=True) if shutil.which("runuser") and os.geteuid() == 0 else None
        without_password = run_async(lambda: _connect_without_password(endpoints["postgres"]))
        # The console, as the banner says: the demo DPO's password and code of the moment, then sign-in.
        staff_code = subprocess.run([sys.executable, "-m", "consentry_dev.staff_code", "demo-dpo", "--run-dir",
                                     str(run_dir)], capture_output=True, text=True, timeout=60)
        demo_accounts = json.loads((run_dir / "console-accounts.json").read_text())
        console_queue = run_async(lambda: _console_queue(endpoints["console_url"], demo_accounts["demo-dpo"]))
    finally:
        dev.send_signal(signal.SIGINT)
        output, _ = dev.communicate(timeout=60)

    # The README's walk does what each step's comment says, step by step.
    assert len(walked) >= 15
    for command, expected, answer in walked:
        said = answer.stdout + answer.stderr
        assert answer.returncode == (1 if "refused" in expected else 0), (command, said)
        assert all(word in said for word in re.findall(r"\b[A-Z][A-Z_]{3,}\b", expected)), (command, expected, said)
    assert "<html" in (tmp_path / "walk" / "receipt.html").read_text()  # what the steps wrote, as they say
    assert (tmp_path / "walk" / "audit.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert granted.returncode == 0, granted.stdout + granted.stderr
    # Nothing is recorded that the operator did not say: the age and the alternative are asked for.
    assert unsaid.returncode == 2 and "--age" in unsaid.stderr and "--alternative-offered" in unsaid.stderr
    # The demo gate lists the one purpose its policy grants it.
    assert [row["purpose_id"] for row in json.loads(purposes.stdout)] == ["demo-gate-access"], purposes.stderr
    # Read by a person: a table, Chinese as text (the notice in zh-CN), no JSON escapes.
    assert purpose_shown.returncode == 0 and "\\u" not in purpose_shown.stdout and "┃" in purpose_shown.stdout
    assert any("\u4e00" <= ch <= "\u9fff" for ch in purpose_shown.stdout), purpose_shown.stdout
    assert page.returncode == 0 and '<html lang="zh-CN">' in page.stdout and "同意回执" in page.stdout, page.stderr
    assert forged.returncode == 1 and forged.stderr.splitlines() == [
        "consentry: INVALID_ARGUMENT RECEIPT_SIGNATURE_INVALID: the signature does not verify over receipt_json:"
        " the receipt was altered or not signed by this service"]
    assert kept_page.returncode == 0 and '<html lang="en">' in kept_page.stdout, kept_page.stderr
    assert unsigned.returncode == 1 and unsigned.stderr.splitlines() == [
        "consentry: --signature is needed with a bare receipt (or give the file `grant --receipt-out` wrote)"]
    assert json.loads(checked.stdout)["decision"] == "DECISION_ALLOW"
    # A refusal is one line, with its machine-readable reason, and a non-zero exit.
    assert child.returncode == 1 and child.stderr.splitlines() == [
        "consentry: FAILED_PRECONDITION GUARDIAN_CONSENT_REQUIRED: subject is under 14 (CN: PIPL 31, Face"
        " Recognition Measures Art. 7): a guardian with a verification reference must grant"]
    assert unknown_language.returncode == 1 and "Traceback" not in unknown_language.stderr
    assert unknown_language.stderr.splitlines() == [
        "consentry: purpose demo-gate-access has no notice in 'fr'; it has: en, zh-CN"]
    assert stranger.returncode == 1 and stranger.stderr.splitlines() == [
        "consentry: no client certificate named 'stranger' on this platform; --client is one of: admin,"
        " demo-gate, dpo"]
    assert (cut_short.returncode, cut_short_stderr) == (141, "")  # the reader left: no error of ours to report
    assert json.loads(data_key.stdout)["plaintext_key_bytes"] == 32
    assert json.loads(shredded.stdout)["certificate"]["backend"] == "wrapped"
    # Only keyvault can tell whom a certificate concerns: it names the subject by a keyed tag.
    assert concerns == {"alice": {"signature_valid": True, "names_subject": True},
                        "bob": {"signature_valid": True, "names_subject": False}}
    assert after.returncode == 1 and "SUBJECT_ERASED" in after.stderr
    # No secret where another local user could read it: files, command lines, the banner, endpoints.json.
    assert len(secrets) >= 6 and exposed == [], exposed
    assert not [line for line in listed for secret in secrets if secret in line]
    assert not [secret for secret in secrets if secret in output or secret in json.dumps(endpoints)]
    assert denied is None or (denied.returncode != 0 and "Permission denied" in denied.stderr)
    assert without_password == "refused"
    assert shown["status"] == "COMPLETED" and [t["status"] for t in shown["timeline"]][0] == "RECEIVED"
    assert impatient.returncode == 2 and "--wait-limit: between 0 and 86400 seconds" in impatient.stderr
    # The reference face gate enrolled demo-mei at start and answered the access task.
    assert [p["name"] for p in shown["processors"]] == ["demo-gate"], shown
    document = json.loads(Path(json.loads(exported.stdout)["json"]).read_text())
    assert document["processors"]["demo-gate"]["templates"][0]["purposeId"] == "demo-gate-access"
    assert verified.returncode == 0 and json.loads(verified.stdout)["entriesVerified"] >= 2, verified.stdout
    assert set(endpoints) >= {"consent", "keyvault", "audit", "dsr", "postgres", "kafka", "vault"}
    assert "consentry consent check" in output
    assert f".venv/bin/python -m examples.face_gate --env-file {gate_env} show --subject demo-mei" in output
    assert gate_shows.returncode == 0 and "demo-mei" in gate_shows.stdout, gate_shows.stdout + gate_shows.stderr
    assert "/acme-campus/sign-in/" in link.stdout and "alice" not in link.stdout
    assert '<html lang="zh-CN">' in portal_page and "Acme Campus Management Co., Ltd." in portal_page
    assert json.loads((run_dir / "endpoints.json").read_text())["portal_url"] in output
    assert sorted(demo_accounts) == ["demo-auditor", "demo-dpo", "demo-operator"]
    assert staff_code.returncode == 0 and re.search(r"^code: +[0-9]{6}$", staff_code.stdout, re.M)
    assert "demo-dpo" in console_queue and "acme-campus" in console_queue
    assert endpoints["console_url"] in output
    assert dev.returncode == 0
    assert processes_mentioning(str(run_dir)) == []


async def _console_queue(console_url: str, account: dict) -> str:
    """The queue page after signing in to the console with a demo account."""
    staff = Staff(console_url.removesuffix("/console/"))
    try:
        await staff.signed_in(Account("demo-dpo", account["password"], account["totp_uri"]))
        return (await staff.get("/console/requests")).text
    finally:
        await staff.close()


async def _connect_without_password(address: str) -> str:
    try:
        conn = await asyncpg.connect(f"postgresql://postgres@{address}/postgres")
    except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
        return "refused"
    await conn.close()
    return "admitted"
