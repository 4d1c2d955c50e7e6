"""Looks for a person everywhere a program could find them again: every row of every table of a
database, in every form a program could match (the plain value, its SHA-256, its bytes in hex as
PostgreSQL prints bytea, its base64 at any alignment), also as part of a longer string."""

import base64
import hashlib
from dataclasses import dataclass, field

import asyncpg


def forms(value: str) -> dict[str, str]:
    raw = value.encode()
    found = {"plain": value, "sha256": hashlib.sha256(raw).hexdigest(), "hex": raw.hex()}
    for shift in range(3):  # the value may start at any byte of a 3-byte base64 group
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = encode(bytes(shift) + raw).decode()
            # Only the characters made of the value's bits alone: the others depend on its neighbours.
            first, last = -(-shift * 8 // 6), (shift + len(raw)) * 8 // 6
            found[f"{name}@{shift}"] = text[first:last]
    return found


@dataclass
class Scan:
    tables: int = 0
    rows: int = 0
    hits: list[tuple[str, str, str]] = field(default_factory=list)  # (table, needle, form)

    def __iadd__(self, other: "Scan") -> "Scan":
        self.tables, self.rows, self.hits = self.tables + other.tables, self.rows + other.rows, self.hits + other.hits
        return self


async def scan_database(dsn: str, needles: dict[str, str], *, skip: set[str] = frozenset()) -> Scan:
    """needles: label -> value. `skip`: tables not scanned (named, so a caller says why)."""
    wanted = {(label, name): text for label, value in needles.items() for name, text in forms(value).items()}
    scan = Scan()
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            " ORDER BY 1, 2")
        for t in tables:
            if t["tablename"] in skip:
                continue
            scan.tables += 1
            async with conn.transaction():
                async for row in conn.cursor(f'SELECT r::text AS line FROM "{t["schemaname"]}"."{t["tablename"]}" r'):
                    scan.rows += 1
                    line = row["line"]
                    scan.hits += [(t["tablename"], label, name) for (label, name), text in wanted.items()
                                  if text in line]
    finally:
        await conn.close()
    return scan


def scan_messages(messages: list[bytes], needles: dict[str, str]) -> Scan:
    """Raw Kafka message values (and keys), searched as bytes and as text."""
    wanted = {(label, name): text for label, value in needles.items() for name, text in forms(value).items()}
    scan = Scan(rows=len(messages))
    for message in messages:
        as_text = message.decode("latin-1")
        scan.hits += [("kafka", label, name) for (label, name), text in wanted.items() if text in as_text]
    return scan
