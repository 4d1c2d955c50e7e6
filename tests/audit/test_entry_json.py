"""An entry's body is written by orjson where it writes what json.dumps, the definition, writes: the
same bytes for any text, key order, nesting and integer an entry may hold; an integer past 64 bits,
which orjson refuses, is written by the definition."""

import json
import random

from services.audit.domain.entry import canonical

# Every ASCII character (controls, quote, backslash, DEL), characters JSON writers disagree on
# (U+2028/2029, the BOM, NEL), other scripts, and one past the Basic Multilingual Plane.
CHARACTERS = [chr(c) for c in range(0x80)] + ["\u0085", "\u2028", "\u2029", "\ufeff", "é", "中", "\uffff",
                                               "\U0001F600"]


def definition(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def text(rng: random.Random) -> str:
    return "".join(rng.choice(CHARACTERS) for _ in range(rng.randint(0, 10)))


def value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(7 if depth < 3 else 5)
    if kind == 0:
        return text(rng)
    if kind == 1:
        return rng.choice([0, 1, -1, 2**63 - 1, -2**63, 2**64 - 1, rng.randint(-2**63, 2**63 - 1)])
    if kind == 2:
        return rng.random() < 0.5
    if kind == 3:
        return None
    if kind == 4:
        return text(rng)
    if kind == 5:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {text(rng): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_an_entry_body_is_the_definitions_bytes():
    rng = random.Random(9162)
    documents = [{"v": 2, "eventId": text(rng), "sequence": value(rng), "payload": value(rng), text(rng): value(rng)}
                 for _ in range(5000)]

    assert all(canonical(d) == definition(d) for d in documents)
    assert any(b"\\u001f" in canonical(d) for d in documents) and any("\U0001F600".encode() in canonical(d)
                                                                        for d in documents)


def test_an_integer_past_64_bits_is_written_by_the_definition():
    document = {"sequence": 2**64, "payload": {"count": -2**70}}

    assert canonical(document) == definition(document) == b'{"payload":{"count":-1180591620717411303424},"sequence":18446744073709551616}'
