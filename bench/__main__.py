"""`python -m bench [--quick] [--only consent|keyvault|audit|dsr|portal|edge|scale]`: run the benchmark sections, print the tables.

Sections: consent (the consent service against a bare gRPC echo server), keyvault (the keyvault
service against raw Vault transit calls), audit (ingest against a naive consumer, proofs and
VerifyLog on a large log against the bare store) and dsr (deletion requests end to end through two
reference face gates, against absolute targets), portal (signed-in people's pages against a static
asset of the same web server); by default all five, in that order. The audit
ingest and the dsr deletions are also measured on a plaintext broker beside Kafka over TLS with
client certificates, and compared in a table of their own (bench/common/kafka_tls.py). The scale
section, last, measures CheckConsent, inclusion proofs, the audit ingest and ListRequests on large
data sets loaded in bulk, each beside the same call on a small one. PostgreSQL,
Tansu, OpenBao and the consent service always run as separate processes in a temporary run dir;
each section starts what else it needs. The load generator is one more process. Everything is
stopped on the way out, error or not.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench.audit.section import SECTION as AUDIT
from bench.common import kafka_tls, report
from bench.common.section import Results, Section
from bench.common.stack import consent_config, stack, stop_on_sigterm
from bench.consent.section import SECTION as CONSENT
from bench.dsr.section import SECTION as DSR
from bench.edge.section import SECTION as EDGE
from bench.keyvault.section import SECTION as KEYVAULT
from bench.portal.section import SECTION as PORTAL
from bench.scale.section import PARTS as SCALE_PARTS
from bench.scale.section import SECTION as SCALE

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS: tuple[Section, ...] = (CONSENT, KEYVAULT, AUDIT, DSR, PORTAL, EDGE, SCALE)


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


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=[s.name for s in SECTIONS], action="append",
                        help="run only this section (repeatable; default: every section)")
    parser.add_argument("--quick", action="store_true", help="short rounds and fewer subjects (smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario")
    parser.add_argument("--duration", type=float, help="measured seconds per round (where rounds are timed)")
    parser.add_argument("--part", dest="parts", choices=list(SCALE_PARTS), action="append",
                        help="scale: only this part (repeatable; default: all three)")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, one more round per service scenario under py-spy (consent: also the"
                             " CheckConsent echo), outside the medians")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder (default bench/results)")
    parser.add_argument("--event-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="event loop of the services and of the echo baselines alike (default: the"
                             " services' default)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    chosen = [s for s in SECTIONS if s.name in (args.only or [s.name for s in SECTIONS])]
    sized = [(s, s.configured(args.quick, rounds=args.rounds, duration_s=args.duration,
                                                parts=tuple(args.parts or ()))) for s in chosen]
    stop_on_sigterm()
    started = datetime.now(UTC).replace(microsecond=0)
    machine = machine_info()
    profiles = args.results / "profiles" / started.strftime("%Y%m%dT%H%M%SZ") if args.profile else None
    found: list[Results] = []
    with tempfile.TemporaryDirectory(prefix="consentry-bench-") as tmp, \
            stack(Path(tmp), args.event_loop, profiles) as s:
        for section, sizes in sized:
            found.append(section.run(s, sizes))
    machine["loadavg_end"] = os.getloadavg()
    config: dict[str, Any] = {"quick": args.quick, "sections": [s.name for s in chosen],
                              "consent_service": consent_config(args.event_loop)}
    for results in found:
        config.update(results.config)
    config["source"] = source_info()
    extra = {key: value for results in found for key, value in results.found.items()}
    doc = report.build([sc for results in found for sc in results.scenarios], started=started, machine=machine,
                       config=config, extra=extra)
    doc["kafka_tls"] = kafka_tls.compare(doc["scenarios"], [pair for results in found for pair in results.pairs])
    path = report.write(doc, args.results, started)
    for section, _ in sized:
        verdict = "all targets met" if doc["sections"][section.name]["all_targets_met"] else "targets missed"
        print(f"\n[{section.name}] ({verdict})\n" + section.table([d for d in doc["scenarios"]
                                                                   if d["section"] == section.name]))
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
