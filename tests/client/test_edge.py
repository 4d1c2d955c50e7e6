"""Keys kept in a gate's memory (EdgeView) open templates without a round trip, only while they may be
used: a withdrawal or a shred drops them at once, a silent stream stops every answer from memory
within its bound, and every use from memory is audited before the template is returned."""

import asyncio
import contextlib
import time

import grpc
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.keyvault.v1 import events_pb2
from consentry.keyvault.v1 import keyvault_admin_pb2 as kv_admin_pb
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_client import (
    ConsentRefused, CorruptTemplate, EdgeView, SubjectErased, TemplateCipher, connect, error_info,
)
from services.consent.service.watch import subject_reference
from tests.client.conftest import FACE_SYSTEM
from tests.consent.builders import CONTROLLER, OTHER_CONTROLLER, grant, registered_purpose
from tests.keyvault.fixtures import TOPICS
from tests.keyvault.test_data_keys import consented
from tests.support import EventOpener, read_events, unique
from tests.watching import Watching
from consentry_dev.stalling_proxy import StallingProxy

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")

TEMPLATE = b"\x02 face-embedding " * 32
SILENCE_BOUND_S = 1.0  # the services beat every 0.5 s


@pytest.fixture
async def edge(consent_channel, keyvault_channel):
    async with EdgeView(consent_channel, keyvault_channel, silence_bound_s=SILENCE_BOUND_S) as view:
        await asyncio.wait_for(view.until_live(), 10)
        yield view


def withdrawal(subject: str, purpose: str) -> cpb.WithdrawConsentRequest:
    return cpb.WithdrawConsentRequest(subject_id=subject, purpose_id=purpose, reason="moved out",
                                      actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT), idempotency_key=unique("wd"))


def wrapped_key_of(blob: bytes) -> bytes:
    """The wrapped data key inside a sealed template (consentry_client.cipher's layout)."""
    return blob[3:3 + int.from_bytes(blob[1:3], "big")]


async def from_memory(cipher: TemplateCipher, edge: EdgeView, subject: str, purpose: str, blob: bytes) -> None:
    """Opens until an open is answered from memory: the set-up's own changes (a purpose registered, a
    consent granted) reach the view a moment later and start it over."""
    async with asyncio.timeout(5):
        while True:
            uses = edge.accounts.uses_answered
            await cipher.open(subject, purpose, blob)
            if edge.accounts.uses_answered > uses:
                return
            await asyncio.sleep(0.05)


async def quiet(edge: EdgeView) -> None:
    """Until the view is live and no change has reached it for two heartbeats: the set-up's own changes
    are behind it."""
    async with asyncio.timeout(10):
        while True:
            await edge.until_live()
            version = edge.version
            await asyncio.sleep(1.0)
            if edge.version == version and edge.live:
                return


async def first_refusal(cipher: TemplateCipher, subject: str, purpose: str, blob: bytes, within_s: float,
                        refusal=ConsentRefused) -> float:
    """Seconds until an open is refused, opening every 10 ms."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        try:
            await cipher.open(subject, purpose, blob)
        except refusal:
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise AssertionError(f"still opening after {within_s} s")


async def test_a_kept_key_opens_templates_from_memory_and_each_use_is_audited(
        admin, gate, keyvault_channel, edge, kafka, keyvault_app, dev_ca):
    subject, purpose = await consented(admin, gate)
    cipher = TemplateCipher(keyvault_channel, edge=edge)
    blob = await cipher.seal(subject, purpose, TEMPLATE)
    await from_memory(cipher, edge, subject, purpose, blob)
    uses = edge.accounts.uses_answered

    opened = [await cipher.open(subject, purpose, blob) for _ in range(23)]

    assert opened == [TEMPLATE] * 23
    assert edge.kept(subject, purpose, wrapped_key_of(blob)) is not None
    assert edge.accounts.uses_answered == uses + 23  # every one from memory
    opener = EventOpener(dev_ca, keyvault_app.port)
    try:
        def reused(events) -> int:
            total, released = 0, events_pb2.KeyReleased()
            for e in events:
                if e.subject_id == subject and e.type == "keyvault.key.released" and e.payload.Unpack(released) \
                        and released.operation == "reuse_data_key":
                    assert released.client_id == FACE_SYSTEM and released.consent_id and released.purpose_id == purpose
                    total += released.count
            return total
        events = await read_events(kafka, TOPICS["wrapped"], opener=opener, until=lambda evs: reused(evs) >= 24)
    finally:
        await opener.close()
    assert reused(events) == 24  # the one from_memory saw, and these


async def test_a_withdrawal_drops_the_kept_key_at_once(admin, gate, keyvault_channel, edge):
    subject, purpose = await consented(admin, gate)
    cipher = TemplateCipher(keyvault_channel, edge=edge)
    blob = await cipher.seal(subject, purpose, TEMPLATE)
    await from_memory(cipher, edge, subject, purpose, blob)
    assert len(edge) == 1

    await gate.WithdrawConsent(withdrawal(subject, purpose))

    assert await first_refusal(cipher, subject, purpose, blob, within_s=SILENCE_BOUND_S) < 0.5
    assert len(edge) == 0 and edge.live  # dropped by the stream, which is still beating


async def test_a_shred_drops_the_kept_key_at_once(admin, gate, keyvault_channel, edge, kv_admin_service):
    subject, purpose = await consented(admin, gate)
    cipher = TemplateCipher(keyvault_channel, edge=edge)
    blob = await cipher.seal(subject, purpose, TEMPLATE)
    await from_memory(cipher, edge, subject, purpose, blob)
    assert len(edge) == 1

    await kv_admin_service.ShredSubjectKey(kv_admin_pb.ShredSubjectKeyRequest(
        subject_id=subject, request_id=unique("dsr"), reason="erasure", idempotency_key=unique("shred"),
        controller_id=CONTROLLER))

    assert await first_refusal(cipher, subject, purpose, blob, within_s=SILENCE_BOUND_S, refusal=SubjectErased) < 0.5
    assert len(edge) == 0 and edge.live


@contextlib.asynccontextmanager
async def gate_behind_a_proxy(consent_app, keyvault_channel, dev_ca, subject: str, purpose: str, **options):
    """A gate whose WatchConsents goes through a proxy that can stall, with the subject's template
    sealed and its key in memory: (proxy, edge, cipher, blob)."""
    files = dev_ca.issue_client(FACE_SYSTEM)
    async with StallingProxy(consent_app.port) as proxy:
        through_proxy = connect(f"localhost:{proxy.port}", dev_ca.ca.cert, files.cert, files.key)
        try:
            async with EdgeView(through_proxy, keyvault_channel, **options) as edge:
                await asyncio.wait_for(edge.until_live(), 10)
                cipher = TemplateCipher(keyvault_channel, edge=edge)
                blob = await cipher.seal(subject, purpose, TEMPLATE)
                await from_memory(cipher, edge, subject, purpose, blob)
                yield proxy, edge, cipher, blob
        finally:
            await through_proxy.close()


async def test_a_silent_stream_stops_answers_from_memory_within_its_bound(
        admin, gate, consent_app, keyvault_channel, dev_ca):
    subject, purpose = await consented(admin, gate)
    async with gate_behind_a_proxy(consent_app, keyvault_channel, dev_ca, subject, purpose,
                                   silence_bound_s=SILENCE_BOUND_S) as (proxy, edge, cipher, blob):
        proxy.stall()  # nothing more reaches this gate's WatchConsents, not even its heartbeats
        stalled, last_from_memory = time.monotonic(), 0.0
        while time.monotonic() - stalled < 2 * SILENCE_BOUND_S:
            uses = edge.accounts.uses_answered
            assert await cipher.open(subject, purpose, blob) == TEMPLATE  # from keyvault once silent
            if edge.accounts.uses_answered > uses:
                last_from_memory = time.monotonic() - stalled
            await asyncio.sleep(0.01)

        assert 0 < last_from_memory <= SILENCE_BOUND_S
        assert not edge.live and len(edge) == 0  # the silent stream given up, and what it vouched for


async def test_a_use_from_memory_after_a_withdrawal_the_gate_has_not_heard_of_is_refused_past_its_window(
        admin, gate, consent_app, keyvault_channel, dev_ca):
    subject, purpose = await consented(admin, gate)
    async with gate_behind_a_proxy(consent_app, keyvault_channel, dev_ca, subject, purpose, silence_bound_s=30,
                                   account_window_s=0.2) as (proxy, edge, cipher, blob):
        proxy.stall()
        await gate.WithdrawConsent(withdrawal(subject, purpose))
        await asyncio.sleep(0.3)  # past the window the last account covered

        assert edge.kept(subject, purpose, wrapped_key_of(blob)) is not None
        with pytest.raises(ConsentRefused):  # keyvault checks each use it records, as a release
            await cipher.open(subject, purpose, blob)
        assert len(edge) == 0


async def test_a_change_during_a_release_keeps_the_release_out_of_memory(admin, gate, keyvault_channel, edge):
    subject, purpose = await consented(admin, gate)
    blob = await TemplateCipher(keyvault_channel).seal(subject, purpose, TEMPLATE)
    wrapped = wrapped_key_of(blob)
    await quiet(edge)
    version = edge.version
    released = await keyvault_pb2_grpc.KeyVaultServiceStub(keyvault_channel).DecryptDataKey(
        kpb.DecryptDataKeyRequest(subject_id=subject, purpose_id=purpose, wrapped_key=wrapped))

    await gate.WithdrawConsent(withdrawal(subject, purpose))
    async with asyncio.timeout(2):
        while edge.version == version:  # noqa: ASYNC110 - until the withdrawal has reached the view
            await asyncio.sleep(0.01)
    await asyncio.wait_for(edge.until_live(), 5)
    edge.keep(version, subject, purpose, wrapped, released, AESGCM(released.plaintext_key))

    assert released.key_ref and released.consent_id and edge.live
    assert edge.kept(subject, purpose, wrapped) is None


async def test_watch_consents_names_only_the_callers_controller_by_a_keyed_reference(
        admin, gate, bank, consent_channel, backend):
    mine, theirs = await consented(admin, gate), unique("subj")
    their_purpose = await registered_purpose(admin, controller_id=OTHER_CONTROLLER)
    await bank.GrantConsent(grant(theirs, their_purpose.purpose_id))
    async with Watching(consent_pb2_grpc.ConsentServiceStub(consent_channel).WatchConsents(
            cpb.WatchConsentsRequest())) as watching:
        await bank.WithdrawConsent(withdrawal(theirs, their_purpose.purpose_id))
        await gate.WithdrawConsent(withdrawal(*mine))
        seen = len(watching.messages)  # a heartbeat comes after every change committed before it was sent
        await watching.until(lambda: len(watching.of_kind("heartbeat", seen)) >= 2)
    started = watching.started
    changes = [(c.subject_ref, c.purpose_id) for c in watching.of_kind("changed")]

    # Other tests' last changes may still come through: the two subjects of this one are what it shows.
    assert len(started.ref_key) == 32 and started.heartbeat_interval.ToMilliseconds() == 500
    assert (subject_reference(started.ref_key, mine[0]), mine[1]) in changes
    assert subject_reference(started.ref_key, theirs) not in [ref for ref, _ in changes]
    assert their_purpose.purpose_id not in [purpose for _, purpose in changes]
    assert mine[0].encode() not in b"".join(ref for ref, _ in changes)


@pytest.mark.parametrize("stub", ["consent", "keyvault"])
async def test_watching_another_controller_is_not_found(consent_channel, keyvault_channel, stub):
    if stub == "consent":
        stream = consent_pb2_grpc.ConsentServiceStub(consent_channel).WatchConsents(
            cpb.WatchConsentsRequest(controller_id=OTHER_CONTROLLER))
    else:
        stream = keyvault_pb2_grpc.KeyVaultServiceStub(keyvault_channel).WatchKeys(
            kpb.WatchKeysRequest(controller_id=OTHER_CONTROLLER))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stream.read()
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def account(*releases, key: str | None = None) -> kpb.RecordReleasesRequest:
    return kpb.RecordReleasesRequest(idempotency_key=key or unique("uses"), releases=[
        kpb.RecordReleasesRequest.Release(subject_id=s, purpose_id=p, consent_id=c, count=n) for s, p, c, n in releases])


BAD_ACCOUNTS = {
    "no releases": (account(), "releases"),
    "a count of 0": (account(("s-1", "p-1", "c-1", 0)), "releases[0].count"),
    "the same pair twice": (account(("s-1", "p-1", "c-1", 1), ("s-1", "p-1", "c-2", 1)), "releases[1].purpose_id"),
    "a subject id that is no identifier": (account(("s 1\n", "p-1", "c-1", 1)), "releases[0].subject_id"),
    "no idempotency key": (kpb.RecordReleasesRequest(releases=account(("s-1", "p-1", "c-1", 1)).releases),
                           "idempotency_key"),
}


@pytest.mark.parametrize("request_, field", BAD_ACCOUNTS.values(), ids=BAD_ACCOUNTS.keys())
async def test_a_malformed_account_is_refused_field_by_field(keyvault_channel, request_, field):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await keyvault_pb2_grpc.KeyVaultServiceStub(keyvault_channel).RecordReleases(request_)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(refused.value)
    violations = error_details_pb2.BadRequest()
    assert any(d.Unpack(violations) for d in status.details)
    assert field in [v.field for v in violations.field_violations], error_info(refused.value)


async def test_a_gallery_opens_side_by_side_with_each_refusal_in_its_place(admin, gate, keyvault_channel, edge):
    kept, fresh, withdrawn = [await consented(admin, gate) for _ in range(3)]
    cipher = TemplateCipher(keyvault_channel, edge=edge)
    blobs = {s: await cipher.seal(s, p, TEMPLATE + s.encode()) for s, p in (kept, fresh, withdrawn)}
    await from_memory(cipher, edge, *kept, blobs[kept[0]])
    await gate.WithdrawConsent(withdrawal(*withdrawn))
    uses = edge.accounts.uses_answered
    altered = blobs[fresh[0]][:-1] + bytes([blobs[fresh[0]][-1] ^ 1])

    opened = await cipher.open_many([(*kept, blobs[kept[0]]), (*fresh, blobs[fresh[0]]),
                                     (*withdrawn, blobs[withdrawn[0]]), (*fresh, altered)])

    assert opened[:2] == [TEMPLATE + kept[0].encode(), TEMPLATE + fresh[0].encode()]
    assert isinstance(opened[2], ConsentRefused) and isinstance(opened[3], CorruptTemplate)
    assert edge.accounts.uses_answered == uses + 1  # the kept key's use, covered by an account


@pytest.mark.parametrize("stub", ["consent", "keyvault"])
async def test_an_operator_watching_a_controller_never_registered_is_told_so(admin, kv_admin, stub):
    named = unique("no-such-controller")
    if stub == "consent":
        stream = admin.WatchConsents(cpb.WatchConsentsRequest(controller_id=named))
    else:
        stream = kv_admin.WatchKeys(kpb.WatchKeysRequest(controller_id=named))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stream.read()
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND and named in refused.value.details()
    registered = (admin.WatchConsents(cpb.WatchConsentsRequest(controller_id=CONTROLLER)) if stub == "consent"
                  else kv_admin.WatchKeys(kpb.WatchKeysRequest(controller_id=CONTROLLER)))
    assert (await registered.read()).HasField("started")
    registered.cancel()
