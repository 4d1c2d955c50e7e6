"""Whether any row of any service database changed, cheaply: one digest per table, all tables of a
database in one query; the rows themselves only when a difference has to be shown.

A table's digest is its row count and the sum of its rows' xmin: every insert or update writes a row
version stamped with its transaction's id, and a delete lowers the count or, with an insert beside
it, replaces one xmin by a newer one. So any committed write shows, even one that rewrites a row with
the values it had (stricter than comparing contents, and far cheaper than hashing every row's text)."""

import asyncio
import time
from collections import Counter

import asyncpg

Digests = dict[str, str]  # "service.schema.table" -> row count and the sum of its rows' xmin


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Databases:
    def __init__(self, dsns: dict[str, str]) -> None:
        self._dsns = dsns
        self._conns: dict[str, asyncpg.Connection] = {}
        self._tables: dict[str, list[tuple[str, str]]] = {}  # service -> (schema, table)

    async def open(self) -> "Databases":
        """Connects as the superuser and lists the tables once (the services migrated at start)."""
        for service, dsn in self._dsns.items():
            conn = self._conns[service] = await asyncpg.connect(dsn)
            self._tables[service] = [tuple(r) for r in await conn.fetch(
                "SELECT schemaname, tablename FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")]
        return self

    async def close(self) -> None:
        for conn in self._conns.values():
            await conn.close()

    def _name(self, service: str, schema: str, table: str) -> str:
        return f"{service}.{schema}.{table}"

    async def _digest(self, service: str) -> Digests:
        tables = self._tables[service]
        parts = [f"(SELECT count(*) || ':' || coalesce(sum(t.xmin::text::bigint), 0) "
                 f"FROM {_quoted(schema)}.{_quoted(table)} t)" for schema, table in tables]
        values = await self._conns[service].fetchval(f"SELECT ARRAY[{', '.join(parts)}]")
        return {self._name(service, *t): v for t, v in zip(tables, values, strict=True)}

    async def digests(self) -> Digests:
        found: Digests = {}
        for part in await asyncio.gather(*(self._digest(s) for s in self._conns)):
            found.update(part)
        return found

    async def rows(self, tables: list[str]) -> dict[str, Counter]:
        """The rows of the named tables, as text (only to show what a rejected call changed)."""
        found = {}
        for name in tables:
            service, schema, table = name.split(".", 2)
            query = f"SELECT t::text FROM {_quoted(schema)}.{_quoted(table)} t"
            found[name] = Counter(r[0] for r in await self._conns[service].fetch(query))
        return found

    async def quiesce(self, timeout: float = 15.0, interval: float = 0.3) -> bool:  # noqa: ASYNC109
        """Waits until background work (relays, sequencer, orchestrator) left the rows alone for one
        interval; False if it never did within the timeout."""
        deadline = time.monotonic() + timeout
        last = await self.digests()
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            now = await self.digests()
            if now == last:
                return True
            last = now
        return False


def changed(before: Digests, after: Digests) -> list[str]:
    return sorted(name for name in after if before.get(name) != after[name])


def row_diff(before: dict[str, Counter], after: dict[str, Counter], tables: list[str],
             limit: int = 3) -> list[str]:
    """Per changed table, a few rows that appeared (+) or disappeared (-)."""
    lines = []
    for table in tables:
        added, removed = after[table] - before[table], before[table] - after[table]
        lines.append(f"{table}: +{sum(added.values())} -{sum(removed.values())} rows")
        for sign, rows in (("+", added), ("-", removed)):
            lines += [f"    {sign} {_short(row)}" for row in list(rows)[:limit]]
    return lines


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"
