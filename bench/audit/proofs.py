"""Proofs and whole-log verification of a large log, and `run_audit_round`, the entry point the
load-generator process runs for every audit round.

- `proof`: GetInclusionProof over gRPC (mTLS, one channel), a random leaf per call, every proof at the
  same tree size and checked against that size's signed root (a proof that does not verify is an
  error, not throughput).
- `proof_lookup`, its baseline: the same proof from the same database without the service, read
  with plain SQL (the hashes of the subtrees the RFC 9162 path covers, one query), from a pool of as
  many connections as calls in flight; checked the same way.
- `proof_echo`, a reference: the same call to a bare grpc.aio server over the same mTLS, answering
  a canned proof of the same size (bench/consent/echo.py): gRPC's own round trip, which no gRPC
  service can beat; its proofs are not valid, so only their size and leaf are checked.
- `verify`: one VerifyLog call (the whole log re-checked on the server).
- `rehash`, its baseline: what a client does at the least to check the log, reading the same
  database: every entry body in leaf order, re-hashed into the tree, and the root compared with the
  latest checkpoint's (whose signature is checked). VerifyLog also compares every stored node, every
  checkpoint and the indexed columns.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bench.audit.events import INGEST_SCENARIOS, AuditRoundSpec
from bench.audit.ingest import run_ingest
from bench.audit.rfc9162 import TreeHead, audit_path, leaf_hash, proof_root, range_hash, signed_tree, subtrees
from bench.common.cpu import Window, cores_between, snapshot
from bench.common.load import CALL_TIMEOUT_S, CallFailed, run_load, summarize
from consentry.audit.v1 import audit_pb2 as pb
from consentry.audit.v1 import audit_pb2_grpc

SCAN_CHUNK = 20_000  # rows per query of the re-hash, as VerifyLog's scan reads them
# The stored hashes of complete subtrees, by (height, index at that height): one query per proof.
NODES = ("SELECT level, node_index, hash FROM tree_nodes"
         " JOIN unnest($1::smallint[], $2::bigint[]) AS wanted(level, node_index) USING (level, node_index)")


class _Proofs:
    """Checks each proof against the signed root, and keeps the largest proof seen."""

    def __init__(self, size: int, root: bytes) -> None:
        self.size, self.root = size, root
        self.most_hashes = 0
        self.most_bytes = 0  # the audit path: the hashes, as the proof's bytes
        self.most_message = 0  # the whole response message, serialized

    def check(self, index: int, leaf: bytes, hashes: list[bytes], message_bytes: int = 0) -> None:
        if proof_root(leaf, index, self.size, hashes) != self.root:
            raise CallFailed("proof does not verify")
        self.measure(hashes, message_bytes)

    def measure(self, hashes: list[bytes], message_bytes: int = 0) -> None:
        self.most_hashes = max(self.most_hashes, len(hashes))
        self.most_bytes = max(self.most_bytes, sum(len(h) for h in hashes))
        self.most_message = max(self.most_message, message_bytes)


async def _signed_root(stub: audit_pb2_grpc.AuditServiceStub, size: int) -> bytes:
    checkpoint = (await stub.GetCheckpoint(pb.GetCheckpointRequest(), timeout=CALL_TIMEOUT_S)).checkpoint
    key = await stub.GetPublicKey(pb.GetPublicKeyRequest(), timeout=CALL_TIMEOUT_S)
    return _root(signed_tree(key.public_key_pem, checkpoint.note, checkpoint.signature), size)


def _root(signed: tuple[int, bytes] | None, size: int) -> bytes:
    if signed is None or signed[0] != size:
        raise RuntimeError(f"no valid signed checkpoint at tree size {size} (found {signed and signed[0]})")
    return signed[1]


async def _load(spec: AuditRoundSpec, call: Callable[[], Awaitable[None]], checker: _Proofs) -> dict[str, Any]:
    with Window(spec.cpu_roots, spec.warmup_s, spec.duration_s) as window:
        result = await run_load(call, concurrency=spec.concurrency, duration_s=spec.duration_s,
                                warmup_s=spec.warmup_s)
    return {**summarize(result, spec.concurrency), "cpu_cores": window.cores(), "tree_size": spec.tree_size,
            "proof_hashes_max": checker.most_hashes, "proof_bytes_max": checker.most_bytes,
            "response_bytes_max": checker.most_message}


async def _proof_round(spec: AuditRoundSpec) -> dict[str, Any]:
    rng, size = random.Random(spec.rng_seed), spec.tree_size
    if spec.scenario in ("proof", "proof_echo"):
        assert spec.target is not None
        echo = spec.scenario == "proof_echo"
        async with spec.target.channel() as channel:
            await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
            stub = audit_pb2_grpc.AuditServiceStub(channel)
            checker = _Proofs(size, b"" if echo else await _signed_root(stub, size))

            async def inclusion_proof() -> None:
                index = rng.randrange(size)
                reply = await stub.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=index, tree_size=size),
                                                     timeout=CALL_TIMEOUT_S)
                if not echo:
                    checker.check(index, reply.leaf_hash, list(reply.hashes), reply.ByteSize())
                elif reply.leaf_index != index or not reply.hashes:  # a canned proof: not one to verify
                    raise CallFailed("not an echo of the request")
                else:
                    checker.measure(list(reply.hashes), reply.ByteSize())

            return await _load(spec, inclusion_proof, checker)
    pool = await asyncpg.create_pool(spec.dsn, min_size=spec.concurrency, max_size=spec.concurrency)
    try:
        checkpoint = await pool.fetchrow("SELECT note, signature FROM checkpoints WHERE tree_size = $1", size)
        signed = checkpoint and signed_tree(spec.public_key_pem, checkpoint["note"], checkpoint["signature"])
        checker = _Proofs(size, _root(signed or None, size))

        async def store_lookup() -> None:
            index = rng.randrange(size)
            path = audit_path(index, size)
            wanted = {(0, index), *(node for start, end in path for node in subtrees(start, end))}
            levels, positions = zip(*wanted, strict=True)
            async with pool.acquire() as conn:
                rows = await conn.fetch(NODES, levels, positions)
            nodes = {(level, position): node for level, position, node in rows}
            hashes = [range_hash([nodes[node] for node in subtrees(start, end)]) for start, end in path]
            checker.check(index, nodes[(0, index)], hashes)

        return await _load(spec, store_lookup, checker)
    finally:
        await pool.close()


async def _verify(spec: AuditRoundSpec) -> dict[str, Any]:
    """Connections are made before the clock starts and closed after the CPU is read: a PostgreSQL
    backend that exits takes its CPU time out of the server's process tree."""
    errors: Counter[str] = Counter()
    extra: dict[str, Any] = {}
    if spec.scenario == "verify":
        assert spec.target is not None
        async with spec.target.channel() as channel:
            await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
            before, began = snapshot(spec.cpu_roots), time.perf_counter()
            reply = await audit_pb2_grpc.AuditServiceStub(channel).VerifyLog(pb.VerifyLogRequest(), timeout=spec.max_s)
            seconds, cpu = time.perf_counter() - began, cores_between(before, snapshot(spec.cpu_roots))
        checked, ok = reply.entries_checked, reply.ok
        extra = {"checkpoints_checked": reply.checkpoints_checked, "problems": list(reply.problems)[:5]}
    else:
        conn = await asyncpg.connect(spec.dsn)
        try:
            before, began = snapshot(spec.cpu_roots), time.perf_counter()
            checked, ok = await _rehash(conn, spec.public_key_pem)
            seconds, cpu = time.perf_counter() - began, cores_between(before, snapshot(spec.cpu_roots))
        finally:
            await conn.close()
    if not ok or checked != spec.tree_size:
        errors[f"verdict ok={ok}, {checked} of {spec.tree_size} entries checked"] += 1
    nan = float("nan")
    return {"rps": checked / seconds, "p50_ms": nan, "p90_ms": nan, "p99_ms": nan, "calls": checked,
            "entries": checked, "seconds": seconds, "errors": dict(errors), "cpu_cores": cpu, "concurrency": 1, **extra}


async def _rehash(conn: asyncpg.Connection, public_key_pem: str) -> tuple[int, bool]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        checkpoint = await conn.fetchrow("SELECT note, signature FROM checkpoints ORDER BY tree_size DESC LIMIT 1")
        signed = checkpoint and signed_tree(public_key_pem, checkpoint["note"], checkpoint["signature"])
        if not signed:
            return 0, False
        head, after, contiguous = TreeHead(), -1, True
        while True:
            rows = await conn.fetch("SELECT leaf_index, body FROM entries WHERE leaf_index > $1"
                                    " AND leaf_index < $2 ORDER BY leaf_index LIMIT $3", after, signed[0], SCAN_CHUNK)
            for index, body in rows:
                contiguous &= index == head.size
                head.add(leaf_hash(body))
            if len(rows) < SCAN_CHUNK:
                break
            after = rows[-1][0]
    return head.size, contiguous and signed == (head.size, head.root())


def run_audit_round(spec: AuditRoundSpec) -> dict[str, Any]:
    """Load-generator entry point (runs in its own process): one audit or baseline round."""
    if spec.scenario in INGEST_SCENARIOS:
        return run_ingest(spec)
    if spec.scenario in ("verify", "rehash"):
        return asyncio.run(_verify(spec))
    return asyncio.run(_proof_round(spec))
