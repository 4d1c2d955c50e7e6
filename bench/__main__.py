"""`python -m bench [--quick] [--only consent|keyvault|audit|dsr]`: run the benchmark sections, print the tables.

Sections: consent (the consent service against a bare gRPC echo server), keyvault (the keyvault
service against raw Vault transit calls), audit (ingest against a naive consumer, proofs and
VerifyLog on a large log against the bare store) and dsr (deletion requests end to end through two
reference face gates, against absolute targets); by default all four, in that order. The audit
ingest and the dsr deletions are also measured on a plaintext broker beside Kafka over TLS with
client certificates, and compared in a table of their own (bench/kafka_tls.py). PostgreSQL,
Tansu and the consent service always run as separate processes in a temporary run dir, the echo
baselines only for the consent section, OpenBao and the keyvault only for the keyvault and audit
sections, the audit service only for the audit section; the dsr section starts the whole platform as
`consentry dev up` runs it, on its own PostgreSQL, Tansu and OpenBao. The load generator is one more
process. Everything is stopped on the way out, error or not.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench import (
    audit_report,
    audit_section,
    consent_section,
    dsr_report,
    dsr_section,
    kafka_tls,
    keyvault_section,
    report,
)
from bench.harness import stack, stop_on_sigterm

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = ("consent", "keyvault", "audit", "dsr")


def source_info() -> dict[str, Any]:
    """Which code was measured: the commit, and the files that differ from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=RESULTS.parent.parent, capture_output=True, text=True, timeout=10)
        return done.stdout if done.returncode == 0 else ""

    try:
        changed = git("status", "--porcelain", "--", "services", "proto", "pyproject.toml").splitlines()
        return {"commit": git("rev-parse", "HEAD").strip() or None, "uncommitted": [line[3:] for line in changed]}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted": None}


def machine_info() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu_model": model,
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "grpcio": grpc.__version__, "platform": platform.platform(), "loadavg_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run only this section (repeatable; default: every section)")
    parser.add_argument("--quick", action="store_true", help="short rounds and fewer subjects (smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario")
    parser.add_argument("--duration", type=float, help="measured seconds per round")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, one more round per service scenario under py-spy (consent: also the"
                             " CheckConsent echo), outside the medians")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder (default bench/results)")
    parser.add_argument("--event-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="event loop of the services and of the echo baselines alike (default: the"
                             " services' default)")
    args = parser.parse_args(argv)
    sections = [name for name in SECTIONS if name in (args.only or SECTIONS)]
    overrides = {k: v for k, v in (("rounds", args.rounds), ("duration_s", args.duration)) if v}
    cfg = replace(consent_section.QUICK if args.quick else consent_section.Config(), **overrides)
    kv_cfg = replace(keyvault_section.KV_QUICK if args.quick else keyvault_section.KvConfig(), **overrides)
    audit_cfg = replace(audit_section.AUDIT_QUICK if args.quick else audit_section.AuditConfig(), **overrides)
    # dsr rounds are count-bounded: --duration does not apply to them.
    dsr_cfg = replace(dsr_section.DSR_QUICK if args.quick else dsr_section.DsrConfig(),
                      **{k: v for k, v in overrides.items() if k == "rounds"})

    stop_on_sigterm()
    started = datetime.now(UTC).replace(microsecond=0)
    machine = machine_info()
    folder = args.results / "profiles" / started.strftime("%Y%m%dT%H%M%SZ")
    scenarios: list[report.Scenario] = []
    extra: dict[str, Any] = {}
    pairs: list[kafka_tls.Pair] = []  # secured / plaintext Kafka scenarios, compared after the run
    with tempfile.TemporaryDirectory(prefix="consentry-bench-") as tmp, stack(Path(tmp), args.event_loop, sections) as s:
        if "consent" in sections:
            groups, found = consent_section.run_all(s, cfg)
            scenarios += [sc for sc, _ in groups]
            extra.update(found)
            if args.profile:
                extra["profiles"] = consent_section.profile_servers(s, groups, folder)
        if "keyvault" in sections:
            groups, found = keyvault_section.run_all(s, kv_cfg)
            scenarios += [sc for sc, _ in groups]
            extra.update(found)
            if args.profile:
                extra["keyvault_profiles"] = keyvault_section.profile_servers(s, groups, folder)
        if "audit" in sections:
            ordered, found = audit_section.run_all(s, audit_cfg)
            scenarios += ordered
            pairs += found.pop("kafka_tls_pairs")
            extra.update(found)
        if "dsr" in sections:
            ordered, found = dsr_section.run_all(s, dsr_cfg)
            scenarios += ordered
            pairs += found.pop("kafka_tls_pairs")
            extra.update(found)
    machine["loadavg_end"] = os.getloadavg()
    config: dict[str, Any] = {**(asdict(cfg) if "consent" in sections else {}), "quick": args.quick,
                              "sections": sections,
                              "consent_service": {**consent_section.consent_config(), "event_loop": args.event_loop}}
    if "keyvault" in sections:
        config["keyvault"] = {**asdict(kv_cfg), "service": keyvault_section.keyvault_config(args.event_loop)}
    if "audit" in sections:
        config["audit"] = audit_section.audit_config(audit_cfg, args.event_loop)
    if "dsr" in sections:
        config["dsr"] = dsr_section.dsr_config(dsr_cfg, args.event_loop)
    config["source"] = source_info()
    doc = report.build(scenarios, started=started, machine=machine, config=config, extra=extra)
    doc["kafka_tls"] = kafka_tls.compare(doc["scenarios"], pairs)
    path = report.write(doc, args.results, started)
    print()
    print(report.table(doc, {"audit": audit_report.table, "dsr": dsr_report.table}))
    if doc["kafka_tls"]:
        print(f"\n[kafka: {kafka_tls.SECURED} vs {kafka_tls.PLAIN}, the same processes, rounds alternating]\n"
              + kafka_tls.table(doc["kafka_tls"]))
    for name, section in doc["sections"].items():
        print(f"\n{name}: " + (f"{section['errors']} calls answered wrongly or failed" if section["errors"]
                               else "every call of every round answered as expected"))
    print(f"\nall targets met: {doc['all_targets_met']}   results: {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as stop:  # clean-up has already run on the way out
        print(f"\ninterrupted ({stop or 'Ctrl-C'}); every process was stopped", file=sys.stderr)
        sys.exit(130)
