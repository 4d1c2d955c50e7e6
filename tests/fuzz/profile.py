"""How long the fuzzer runs: a bounded run inside the normal suite (a fixed seed per RPC), a long one
under `make fuzz` (CONSENTRY_FUZZ_EXAMPLES per RPC, random unless CONSENTRY_FUZZ_SEED is set)."""

import os
import zlib
from collections.abc import Iterator

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.strategies import SearchStrategy

BOUNDED_EXAMPLES = 50
EXAMPLES = int(os.environ.get("CONSENTRY_FUZZ_EXAMPLES") or BOUNDED_EXAMPLES)
LONG = "CONSENTRY_FUZZ_EXAMPLES" in os.environ
SEED = os.environ.get("CONSENTRY_FUZZ_SEED")
CHUNK = 100  # inputs per hypothesis run, so a long run never holds thousands of requests at once

# Hypothesis only draws the inputs: nothing is raised inside it (every input is tried, each distinct
# problem is recorded with its first example), hence no shrinking and no example database.
settings.register_profile("consentry-fuzz", deadline=None, database=None,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                          print_blob=False)


def inputs(strategy: SearchStrategy, rpc: str) -> Iterator:
    """EXAMPLES values of the strategy, drawn on the calling thread: hypothesis reseeds the global
    `random` while it draws, which must not overlap the services' own use of it."""
    for chunk, start in enumerate(range(0, EXAMPLES, CHUNK)):
        fixed = None if LONG and SEED is None else zlib.crc32(f"{rpc}/{chunk}".encode()) ^ int(SEED or 0)
        yield from _draw(strategy, min(CHUNK, EXAMPLES - start), fixed)


def _draw(strategy: SearchStrategy, count: int, fixed_seed: int | None) -> list:
    drawn: list = []

    @settings(settings.get_profile("consentry-fuzz"), max_examples=count)
    @given(strategy)
    def keep(value) -> None:
        drawn.append(value)

    (keep if fixed_seed is None else seed(fixed_seed)(keep))()
    return drawn
