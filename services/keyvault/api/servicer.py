"""KeyVaultService over gRPC: validate (the controller the call acts in among it), authorize the
purpose, run the use case, map the result.
The operator's actions (shredding, KEK rotation) are KeyVaultAdminService's, in admin_servicer."""

from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc

from services.common import auth
from services.common.idempotent_rpc import idempotent
from services.common.timestamps import to_duration, to_timestamp
from services.common.watch import RESET, Beat, WatchHub
from services.keyvault.api import stored_answers as stored
from services.keyvault.api import validation as valid
from services.keyvault.domain.errors import SubjectErased
from services.keyvault.domain.model import SubjectKey
from services.keyvault.service.keys import KeyService


def _status(subject_id: str, key: SubjectKey | None) -> pb.GetKeyStatusResponse:
    if key is None:
        return pb.GetKeyStatusResponse(subject_id=subject_id, state=pb.KEY_STATE_ABSENT)
    return pb.GetKeyStatusResponse(subject_id=subject_id, state=key.state.value, backend=key.backend,
                                   created_at=to_timestamp(key.created_at), shredded_at=to_timestamp(key.shredded_at))


class KeyVaultServicer(keyvault_pb2_grpc.KeyVaultServiceServicer):
    def __init__(self, service: KeyService, certificate_key: tuple[str, str], watch: WatchHub) -> None:
        self._service = service
        self._watch = watch
        self._certificate_key = certificate_key

    async def EnsureSubjectKey(self, request, context):
        controller_id, subject_id = valid.subject(request.controller_id, request.subject_id)
        key = (await self._service.ensure(controller_id, [subject_id])).get(subject_id)
        if key is not None and key.state.erased:
            raise SubjectErased(subject_id)
        return pb.EnsureSubjectKeyResponse(status=_status(subject_id, key))

    async def EnsureSubjectKeys(self, request, context):
        controller_id, subject_ids = valid.subjects(request.controller_id, list(request.subject_ids))
        keys = await self._service.ensure(controller_id, subject_ids)
        return pb.EnsureSubjectKeysResponse(statuses=[_status(s, keys.get(s)) for s in subject_ids])

    async def GenerateDataKey(self, request, context):
        controller_id, subject_id, purpose_id = valid.subject_and_purpose(request.controller_id, request.subject_id,
                                                                          request.purpose_id)
        auth.require_purpose(purpose_id)
        plaintext, wrapped = await self._service.generate_data_key(controller_id, subject_id, purpose_id,
                                                                   auth.current_client().client_id)
        return pb.GenerateDataKeyResponse(plaintext_key=plaintext, wrapped_key=wrapped)

    async def DecryptDataKey(self, request, context):
        controller_id, subject_id, purpose_id = valid.sealed(request.controller_id, request.subject_id,
                                                             request.purpose_id, "wrapped_key", request.wrapped_key)
        auth.require_purpose(purpose_id)
        release = await self._service.decrypt_data_key(controller_id, subject_id, purpose_id, request.wrapped_key,
                                                       auth.current_client().client_id)
        return pb.DecryptDataKeyResponse(plaintext_key=release.data_key, key_ref=release.key_ref,
                                         consent_id=release.consent_id, consent_lapses=release.consent_lapses,
                                         valid_until=to_timestamp(release.valid_until))

    async def WatchKeys(self, request, context):
        controller_id, refs = valid.watch(request.controller_id), self._service.key_refs
        if auth.current_client().is_operator:  # a controller's client watches its own
            await self._service.require_registered(controller_id)
        interval = to_duration(self._watch.heartbeat_s)
        with self._watch.subscribe() as changes:  # before `started`: nothing after it is missed
            yield pb.WatchKeysResponse(started=pb.WatchKeysStarted(heartbeat_interval=interval))
            async for message in changes:
                if isinstance(message, Beat):
                    yield pb.WatchKeysResponse(heartbeat=pb.WatchKeysHeartbeat())
                elif message is RESET:
                    yield pb.WatchKeysResponse(reset=pb.WatchKeysReset())
                elif (change := refs.parse(message)).controller_id == controller_id:
                    if change.tag is None:
                        yield pb.WatchKeysResponse(reset=pb.WatchKeysReset())
                    else:
                        yield pb.WatchKeysResponse(changed=pb.KeyChanged(key_ref=refs.of_tag(change.tag)))

    async def RecordReleases(self, request, context):
        controller_id, reuses = valid.reuses(request.controller_id, request.idempotency_key, request.releases)
        for purpose_id in {r.purpose_id for r in reuses}:
            auth.require_purpose(purpose_id)
        client_id = auth.current_client().client_id
        return await idempotent("RecordReleases", request, pb.RecordReleasesResponse,
                                lambda refused: pb.RecordReleasesResponse(refused=[
                                    pb.RefusedRelease(subject_id=r.subject_id, purpose_id=r.purpose_id, reason=why)
                                    for r, why in refused]),
                                lambda idem: self._service.record_reuse(controller_id, client_id, reuses, idem))

    async def RetirePurposeKeys(self, request, context):
        controller_id, subject_id, purpose_id = valid.retire(request.controller_id, request.subject_id,
                                                             request.purpose_id, request.idempotency_key)
        auth.require_purpose(purpose_id)
        return await idempotent("RetirePurposeKeys", request, pb.RetirePurposeKeysResponse,
                                lambda retired: pb.RetirePurposeKeysResponse(retired_generation=retired),
                                lambda idem: self._service.retire_purpose_keys_once(controller_id, subject_id,
                                                                                    purpose_id, idem),
                                stored.RETIRED)

    async def Encrypt(self, request, context):
        controller_id, subject_id, purpose_id = valid.plaintext(request.controller_id, request.subject_id,
                                                                request.purpose_id, request.plaintext)
        auth.require_purpose(purpose_id)
        sealed = await self._service.encrypt(controller_id, subject_id, purpose_id, request.plaintext,
                                             auth.current_client().client_id)
        return pb.EncryptResponse(ciphertext=sealed)

    async def Decrypt(self, request, context):
        controller_id, subject_id, purpose_id = valid.sealed(request.controller_id, request.subject_id,
                                                             request.purpose_id, "ciphertext", request.ciphertext)
        auth.require_purpose(purpose_id)
        plaintext = await self._service.decrypt(controller_id, subject_id, purpose_id, request.ciphertext,
                                                auth.current_client().client_id)
        return pb.DecryptResponse(plaintext=plaintext)

    async def GetKeyStatus(self, request, context):
        controller_id, subject_id = valid.subject(request.controller_id, request.subject_id)
        return _status(subject_id, await self._service.status(controller_id, subject_id))

    async def GetSubjectRefs(self, request, context):
        controller_id, subject_ids = valid.subjects(request.controller_id, list(request.subject_ids))
        refs = await self._service.subject_refs(controller_id, subject_ids, request.create_missing)
        return pb.GetSubjectRefsResponse(refs=[
            pb.GetSubjectRefsResponse.Ref(subject_id=s, subject_ref=ref, state=state.value) for s, ref, state in refs])

    async def VerifyCertificate(self, request, context):
        c = request.certificate
        controller_id, subject_id = valid.certificate(request.controller_id, request.subject_id, c.certificate_json,
                                                      c.signature)
        signed, named = self._service.verify_certificate(controller_id, subject_id, c.certificate_json, c.signature)
        return pb.VerifyCertificateResponse(signature_valid=signed, names_subject=named)

    async def GetCertificateKey(self, request, context):
        key_id, pem = self._certificate_key
        return pb.GetCertificateKeyResponse(key_id=key_id, public_key_pem=pem)
