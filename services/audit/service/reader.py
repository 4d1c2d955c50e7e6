"""Reading the log: checkpoints, RFC 9162 proofs from the stored perfect subtrees, and queries.
Everything is answered against a signed tree size, never against entries not yet checkpointed."""

from collections.abc import AsyncIterator, Awaitable, Callable

from services.audit.domain import errors, merkle, proofs
from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.completeness import ProducerProgress
from services.audit.domain.entry import EntryFilter
from services.audit.service.export import export_lines
from services.audit.service.ports import LogUnits
from services.audit.service.verification import LogVerdict, verify_log
from services.common.page_tokens import PageTokens

DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _after(position: list) -> tuple[int, int]:
    """The last leaf a page showed, and the signed tree size every page of the query reads."""
    after, size = position
    return int(after), int(size)


class LogReader:
    def __init__(self, uow: LogUnits, subject_ref: Callable[[str], Awaitable[str]], tokens: PageTokens,
                 public_key_pem: str) -> None:
        """`public_key_pem`: the checkpoint signer's, which VerifyLog checks every signature against."""
        self._uow = uow
        self._subject_ref = subject_ref
        self._tokens = tokens
        self._public_key = public_key_pem

    async def checkpoint(self) -> Checkpoint:
        async with self._uow.autocommit() as store:
            latest = await store.latest_checkpoint()
        if latest is None:
            raise errors.EmptyLog()
        return latest

    async def _signed_size(self, requested: int, what: str = "tree_size") -> int:
        """The requested tree size, 0 meaning the latest; only the size of a signed checkpoint."""
        async with self._uow.autocommit() as store:
            latest = await store.latest_checkpoint()
            if latest is None:
                raise errors.EmptyLog()
            if not requested:
                return latest.tree_size
            if requested > latest.tree_size:
                raise errors.BeyondTree(what, requested, latest.tree_size)
            if requested != latest.tree_size and await store.checkpoint_at(requested) is None:
                raise errors.NotSigned(what, requested)
        return requested

    async def inclusion(self, leaf_index: int, tree_size: int) -> tuple[int, bytes, list[bytes]]:
        """(tree size, leaf hash, audit path)."""
        size = await self._signed_size(tree_size)
        if leaf_index >= size:
            raise errors.BeyondTree("leaf_index", leaf_index, size)
        plan = proofs.inclusion_plan(leaf_index, size)
        async with self._uow.autocommit() as store:
            nodes = await store.nodes(merkle.addresses_for(plan) | {(0, leaf_index)})
        return size, nodes[(0, leaf_index)], merkle.hashes_for(plan, nodes)

    async def consistency(self, old_size: int, new_size: int) -> tuple[int, list[bytes]]:
        """Between two signed trees: the one the caller holds and a later one."""
        size = await self._signed_size(new_size, "new_size")
        if old_size > size:
            raise errors.BeyondTree("old_size", old_size, size)
        await self._signed_size(old_size, "old_size")
        plan = proofs.consistency_plan(old_size, size)
        async with self._uow.autocommit() as store:
            nodes = await store.nodes(merkle.addresses_for(plan))
        return size, merkle.hashes_for(plan, nodes)

    async def completeness(self) -> list[ProducerProgress]:
        async with self._uow.autocommit() as store:
            return sorted(await store.progress(), key=lambda p: p.producer)

    async def resolve(self, subject_id: str, subject_ref: str) -> str | None:
        """The reference to filter by; None when a subject id has no reference (shredded or unknown)."""
        if not subject_id:
            return subject_ref
        return await self._subject_ref(subject_id) or None

    async def query(self, where: EntryFilter, page_size: int, token: str) -> tuple[list[tuple[int, bytes]], str]:
        """A page of entries of the signed tree; a page token carries the tree's size and goes on only
        the query it came from, so it can never reach entries no signed checkpoint covers."""
        if token:
            after, size = self._position(where, token)
        else:
            async with self._uow.autocommit() as store:
                latest = await store.latest_checkpoint()
            if latest is None:  # nothing signed yet: nothing to show
                return [], ""
            after, size = -1, latest.tree_size
        async with self._uow.autocommit() as store:
            found = await store.find(where, after, size, page_size)
        more = len(found) == page_size
        return found, self._tokens.issue(where.fingerprint(), [found[-1][0], size]) if more else ""

    def _position(self, where: EntryFilter, token: str) -> tuple[int, int]:
        return self._tokens.continued(token, where.fingerprint(), _after)

    def export(self, where: EntryFilter, since_tree_size: int) -> AsyncIterator[bytes]:
        """ExportEvents' JSON Lines, against the latest signed tree (export.py)."""
        return export_lines(self._uow, where, since_tree_size)

    async def verify(self) -> LogVerdict:
        """VerifyLog: the whole log re-checked from what the database holds (verification.py)."""
        return await verify_log(self._uow, self._public_key)
