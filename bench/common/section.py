"""The one shape every section has. A section is a name, its sizes (a frozen dataclass: the full run's
and `--quick`'s), `run`, which measures on the run's shared processes and returns what it found,
and `table`, which draws its rows of the results document; `__main__` runs the chosen sections in
turn and writes one document."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from bench.common.kafka_tls import Pair
from bench.common.report import Scenario, section_table

if TYPE_CHECKING:
    from bench.common.stack import Stack


@dataclass
class Results:
    """What a section found: its scenarios (rounds and goals, in report order), what the document
    keeps at its top level under the section's own keys (set-up figures, profiles), the section's
    part of the document's "config", and the scenario pairs the Kafka comparison reads."""

    scenarios: list[Scenario]
    found: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)


@dataclass(frozen=True)
class Section:
    name: str
    sizes: Any  # a frozen dataclass; its fields `rounds` and `duration_s`, where it has them, follow the flags
    quick: Any  # the same, for --quick
    run: Callable[[Stack, Any], Results]
    table: Callable[[list[dict[str, Any]]], str] = section_table

    def configured(self, quick: bool, **flags: Any) -> Any:
        """The sizes of this run: --quick's or the full run's, with the command line's values where the
        section has such a field (a count-bounded section has no duration)."""
        sizes = self.quick if quick else self.sizes
        names = {f.name for f in fields(sizes)}
        return replace(sizes, **{k: v for k, v in flags.items() if k in names and v})
