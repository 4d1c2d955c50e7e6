"""ExportEvents: the JSON Lines file a DPO verifies offline (format in domain.export_format)."""

from collections.abc import AsyncIterator

from services.audit.domain import errors, merkle, proofs
from services.audit.domain.entry import EntryFilter
from services.audit.domain.export_format import checkpoint_line, consistency_line, dumps, entry_line
from services.audit.service.ports import LogUnits

CHUNK = 500  # entries whose proofs are fetched in one query


async def export_lines(uow: LogUnits, where: EntryFilter, since_tree_size: int) -> AsyncIterator[bytes]:
    async with uow.autocommit() as store:
        checkpoint = await store.latest_checkpoint()
        if checkpoint is None:
            raise errors.EmptyLog()
        size = checkpoint.tree_size
        if since_tree_size > size:
            raise errors.BeyondTree("since_tree_size", since_tree_size, size)
        if since_tree_size and since_tree_size != size and await store.checkpoint_at(since_tree_size) is None:
            raise errors.NotSigned("since_tree_size", since_tree_size)
        yield dumps(checkpoint_line(checkpoint))
        after = -1
        while True:
            found = await store.find(where, after, size, CHUNK)
            plans = {index: proofs.inclusion_plan(index, size) for index, _ in found}
            wanted = set().union(*(merkle.addresses_for(p) for p in plans.values())) if plans else set()
            nodes = await store.nodes(wanted)
            yield b"".join(dumps(entry_line(index, body, merkle.hashes_for(plans[index], nodes)))
                           for index, body in found)
            if len(found) < CHUNK:
                break
            after = found[-1][0]
        if since_tree_size:
            plan = proofs.consistency_plan(since_tree_size, size)
            nodes = await store.nodes(merkle.addresses_for(plan))
            yield dumps(consistency_line(since_tree_size, size, merkle.hashes_for(plan, nodes)))
