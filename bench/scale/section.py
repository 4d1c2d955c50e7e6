"""The scale section: how the cost of the services' reads and of the audit ingest grows with the
data they hold. Each figure on a large data set is measured beside the same figure on a small one in
the same run (rounds alternating, medians and ratios):

- consent: CheckConsent with 10,000,000 consent records against 100,000 (consent.py);
- audit: GetInclusionProof and ingest with a log of 10,000,000 entries against 1,000,000 (audit.py);
- dsr: ListRequests, first pages and a page deep, with each filter, with 1,000,000 requests against
  10,000 (dsr.py).

The data sets are loaded in bulk with SQL straight into each service's own tables, in the shape the
service writes (consent_rows.py, audit_rows.py, dsr_rows.py), while the service is stopped. Each
part stops its processes and drops its databases before the next begins."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.common.section import Results, Section
from bench.common.stack import Stack
from bench.scale import audit, consent, dsr
from bench.scale.table import table

NAME = "scale"
PARTS = {"consent": consent, "audit": audit, "dsr": dsr}


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3
    duration_s: float = 5.0  # CheckConsent and proof windows; the least seconds of a ListRequests round
    warmup_s: float = 1.5
    consents: tuple[int, int] = (100_000, 10_000_000)  # (baseline, large)
    check_concurrency: int = 64
    unknown_share: float = 0.1
    audit_entries: tuple[int, int] = (1_000_000, 10_000_000)
    ingest_rounds: int = 3
    ingest_events: int = 30_000
    proof_concurrency: int = 1
    requests: tuple[int, int] = (10_000, 1_000_000)
    list_calls: int = 10  # the least calls of a ListRequests round
    deep_pages: int = 20  # the deep page is the one after this many
    parts: tuple[str, ...] = ("consent", "audit", "dsr")  # --part


QUICK = Sizes(rounds=2, duration_s=1.5, warmup_s=0.5, consents=(100_000, 1_000_000),
              audit_entries=(100_000, 1_000_000), ingest_rounds=2, ingest_events=10_000, requests=(10_000, 100_000),
              list_calls=5)


def run(s: Stack, sizes: Sizes) -> Results:
    scenarios = []
    found: dict[str, Any] = {}
    for name, part in PARTS.items():
        if name in sizes.parts:
            made, found[name] = part.run(s, sizes)
            scenarios += made
    return Results(scenarios, {"scale_setup": found}, {"scale": asdict(sizes)})


SECTION = Section(NAME, Sizes(), QUICK, run, table)
