"""Every RPC needs a client certificate from our CA, a registered identity and a grant; the
operator's ConsentAdminService, a grant that names it."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from services.common.pki import DevCA
from tests.consent.builders import CONTROLLER, grant, registered_purpose
from tests.consent.fixtures import ADMIN_SERVICE, SERVICE
from tests.support import secure_channel, unique
from tests.legal import requirement


async def refused(call, request) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=5)
    return error.value


async def test_caller_without_certificate_is_refused_at_the_handshake(consent_app, dev_ca, admin):
    p = await registered_purpose(admin)
    subject = unique("subj")
    channel = secure_channel(dev_ca, consent_app.port, None)
    try:
        error = await refused(consent_pb2_grpc.ConsentServiceStub(channel).GrantConsent,
                              grant(subject, p.purpose_id))
    finally:
        await channel.close()

    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert not (await admin.ListConsents(pb.ListConsentsRequest(subject_id=subject, controller_id=CONTROLLER))).consents


async def test_certificate_from_another_authority_is_refused(consent_app, dev_ca, tmp_path):
    foreign = DevCA(tmp_path / "foreign")
    files = foreign.issue_client("admin")  # right name, wrong issuer
    creds = grpc.ssl_channel_credentials(dev_ca.ca.cert.read_bytes(), files.key.read_bytes(),
                                         files.cert.read_bytes())
    async with grpc.aio.secure_channel(f"localhost:{consent_app.port}", creds) as channel:
        error = await refused(consent_pb2_grpc.ConsentServiceStub(channel).CheckConsent,
                              pb.CheckConsentRequest(subject_id="s", purpose_id="p"))
    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_unregistered_identity_is_unauthenticated(connect):
    stranger = connect("stranger")
    error = await refused(stranger.CheckConsent, pb.CheckConsentRequest(subject_id="s", purpose_id="p"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_client_may_not_call_rpcs_outside_its_grant(connect, admin):
    p = await registered_purpose(admin, purpose_id=unique("door-entry"))
    door = connect("door-app")
    subject = unique("subj")

    error = await refused(door.GrantConsent, grant(subject, p.purpose_id))

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert not (await admin.ListConsents(pb.ListConsentsRequest(subject_id=subject, controller_id=CONTROLLER))).consents


@requirement("Measures Art. 14; GB/T 41819", "Callers are authenticated and authorized per RPC and per purpose")
async def test_client_may_only_check_its_own_purposes(connect, admin):
    other = await registered_purpose(admin)
    door = connect("door-app")

    error = await refused(door.CheckConsent, pb.CheckConsentRequest(subject_id="s-1", purpose_id=other.purpose_id))
    allowed = await door.CheckConsent(pb.CheckConsentRequest(subject_id="s-1", purpose_id="door-entry"))

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "door-entry" not in error.details() and other.purpose_id in error.details()
    assert allowed.decision == pb.DECISION_DENY  # answered: no consent on record, never ALLOW


async def test_health_is_open_to_probes_with_a_certificate(consent_app, connect, dev_ca):
    channel = secure_channel(dev_ca, consent_app.port, "stranger")
    try:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="consentry.consent.v1.ConsentService"))
    finally:
        await channel.close()
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def _consents_of(admin, subject: str) -> list:
    return list((await admin.ListConsents(pb.ListConsentsRequest(subject_id=subject, controller_id=CONTROLLER))).consents)


@pytest.mark.parametrize("client", ["everything-app", "whole-service-app"])
async def test_no_grant_of_consent_service_reaches_erasure(client, connect, connect_admin, admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    before = await _consents_of(admin, subject)

    error = await refused(connect_admin(client).EraseSubject, admin_pb.EraseSubjectRequest(
        subject_id=subject, request_id=unique("dsr"), controller_id=CONTROLLER,
        idempotency_key=unique("erase")))
    swept = await refused(connect_admin(client).ExpireConsents, admin_pb.ExpireConsentsRequest())
    still_checks = await connect(client).CheckConsent(pb.CheckConsentRequest(subject_id=subject,
                                                                             purpose_id=p.purpose_id))

    assert [c.state for c in before] == [pb.CONSENT_STATE_GIVEN]
    assert error.code() == swept.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f"{ADMIN_SERVICE}/EraseSubject" in error.details()
    assert await _consents_of(admin, subject) == before  # nothing was erased
    assert still_checks.decision == pb.DECISION_ALLOW  # the grant still reaches ConsentService itself


async def test_an_admin_service_granted_by_name_erases(consent_admin, admin, gate):
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))

    erased = await consent_admin.EraseSubject(admin_pb.EraseSubjectRequest(
        subject_id=subject, request_id=unique("dsr"), controller_id=CONTROLLER,
        idempotency_key=unique("erase")))
    checked = await gate.CheckConsent(pb.CheckConsentRequest(subject_id=subject, purpose_id=p.purpose_id))

    assert erased.consents_erased == 1
    assert await _consents_of(admin, subject) == []
    assert checked.reason == pb.DENY_REASON_SUBJECT_ERASED


async def test_the_server_lists_both_services_in_health_and_reflection(consent_app, dev_ca):
    channel = secure_channel(dev_ca, consent_app.port, "stranger")
    try:
        health = health_pb2_grpc.HealthStub(channel)
        statuses = [(await health.Check(health_pb2.HealthCheckRequest(service=name))).status
                    for name in (SERVICE, ADMIN_SERVICE)]
        async for answer in reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])):
            listed = {s.name for s in answer.list_services_response.service}
    finally:
        await channel.close()
    assert statuses == [health_pb2.HealthCheckResponse.SERVING] * 2
    assert {SERVICE, ADMIN_SERVICE} <= listed
