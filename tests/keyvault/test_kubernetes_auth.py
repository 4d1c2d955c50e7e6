"""Services log in to OpenBao as their Kubernetes ServiceAccount, with the roles and policies
`consentry provision kubernetes-auth` writes. A real OpenBao of this module's own, whose Kubernetes
auth method reviews tokens at the stand-in of the Kubernetes API (tests/kubernetes_api.py): tokens
are refused for another service, namespace or audience, each token carries its one policy, and a
service logs in again before its token expires."""

import asyncio
import base64
import dataclasses

import hvac
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_dev.launchers import OpenBaoProcess
from services.audit import provision as audit
from services.audit.store.checkpoint_signer import VaultCheckpointSigner
from services.common.pki import DevCA
from services.common.erasure import ErasureKeySettings, ensure_erasure_key
from services.common.vault_auth import VaultAccess, VaultLoginFailed, VaultSession
from services.keyvault import provision as keyvault
from services.keyvault.app import KeyVaultApp
from services.provision.vault import kubernetes_roles, provision_kubernetes_auth
from tests.keyvault.fixtures import CONTROLLER, keyvault_settings
from tests.keyvault.test_data_keys import consented
from tests.kubernetes_api import KubernetesApi
from tests.support import secure_channel

NAMESPACE = "consentry"
SHORT_TTL_S = 3  # the short-lived mount's tokens: a service must have logged in again after it


@dataclasses.dataclass
class Cluster:
    bao: OpenBaoProcess
    api: KubernetesApi
    run_dir: object

    def login_as(self, account: str, role: str, mount: str = "kubernetes", namespace: str = NAMESPACE,
                 audience: str = "openbao", name: str = "", lifetime_s: int = 3600) -> VaultAccess:
        """A pod's settings, its projected token written where the kubelet would."""
        jwt_file = self.run_dir / f"{name or account}-{role}-{mount}.jwt"
        jwt_file.write_text(self.api.token(namespace, account, audience, lifetime_s))
        return VaultAccess(vault_address=self.bao.address, vault_auth="kubernetes", vault_kubernetes_role=role,
                           vault_kubernetes_mount=mount, vault_kubernetes_jwt_file=jwt_file)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, backend):
    run_dir = tmp_path_factory.mktemp("k8s-auth")
    with OpenBaoProcess(run_dir / "bao").start() as bao, KubernetesApi(DevCA(run_dir / "pki")) as api:
        admin = bao.client()
        ensure_erasure_key(admin)
        keyvault.ensure_kek(admin, backend)
        keyvault.ensure_kek(admin, backend, controller_id=CONTROLLER) if backend == "wrapped" else None
        audit.ensure_checkpoint_key(admin)
        provision_kubernetes_auth(admin, NAMESPACE, api.address, api.ca_pem, backend=backend, in_cluster=False)
        provision_kubernetes_auth(admin, NAMESPACE, api.address, api.ca_pem, mount="kubernetes-short", backend=backend,
                                  in_cluster=False, token_ttl_s=SHORT_TTL_S)
        yield Cluster(bao, api, run_dir)


def test_provisioning_is_idempotent_and_names_the_policies_still_missing(tmp_path, backend):
    with OpenBaoProcess(tmp_path / "bao").start() as bao, KubernetesApi(DevCA(tmp_path / "pki")) as api:
        first = provision_kubernetes_auth(bao.client(), NAMESPACE, api.address, api.ca_pem, backend=backend, in_cluster=False)
        again = provision_kubernetes_auth(bao.client(), NAMESPACE, api.address, api.ca_pem, backend=backend, in_cluster=False)
        moved = provision_kubernetes_auth(bao.client(), "consentry-staging", api.address, api.ca_pem, backend=backend, in_cluster=False)

    roles = [f"role {role}" for role in kubernetes_roles(backend)]
    assert first.changed == ["auth method kubernetes/", "auth/kubernetes/config", *roles]
    assert again.changed == [] and moved.changed == roles  # a new namespace rewrites every binding
    missing = {keyvault.POLICY_NAMES[backend], audit.POLICY, "consentry-erasure-key"}
    assert {note.split()[1] for note in first.notes} == missing


def test_each_service_gets_its_own_policy_and_nothing_else(cluster, backend):
    admin = cluster.bao.client()
    for role, (account, policies) in kubernetes_roles(backend).items():
        token = cluster.login_as(account, role).vault_session().token()
        looked_up = admin.auth.token.lookup(token)["data"]
        assert looked_up["policies"] == list(policies), role
        assert looked_up["meta"]["service_account_name"] == account
        assert 0 < looked_up["ttl"] <= 3600

    keyvault_client = cluster.login_as("keyvault", "consentry-keyvault").vault_session().client()
    audit_client = cluster.login_as("audit", "consentry-audit").vault_session().client()
    readable = "consentry/erasure-key"
    with pytest.raises(hvac.exceptions.Forbidden):
        keyvault_client.secrets.transit.sign_data(audit.KEY_NAME, hash_input="aGk=")
    with pytest.raises(hvac.exceptions.Forbidden):
        keyvault_client.secrets.kv.v2.read_secret_version(readable, raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        audit_client.secrets.transit.encrypt_data("consentry-kek", plaintext="aGk=")
    assert audit_client.secrets.transit.sign_data(audit.KEY_NAME, hash_input="aGk=")["data"]["signature"]


@pytest.mark.parametrize("wrong", ["account", "namespace", "audience", "deleted account"])
def test_a_token_is_refused_for_another_account_namespace_or_audience(cluster, wrong):
    right = dict(account="keyvault", role="consentry-keyvault", name=f"right-{wrong}")
    assert cluster.login_as(**right).vault_session().token()  # the pod itself logs in
    other = {"account": dict(account="audit"), "namespace": dict(namespace="elsewhere"),
             "audience": dict(audience="https://kubernetes.default.svc"), "deleted account": {}}[wrong]
    access = cluster.login_as(**{**right, **other, "name": f"wrong-{wrong}"})
    if wrong == "deleted account":
        cluster.api.delete_account(NAMESPACE, "keyvault")
    try:
        with pytest.raises(VaultLoginFailed, match="Forbidden"):
            access.vault_session().token()
    finally:
        cluster.api.token(NAMESPACE, "keyvault")  # made again (a new uid) for the tests after this one


async def test_a_session_logs_in_again_before_its_token_expires_reading_the_rotated_token(cluster):
    # The first projected token expires before the session logs in again: only the rotated one works then.
    access = cluster.login_as("audit", "consentry-audit", mount="kubernetes-short", name="rotating", lifetime_s=2)
    signer = VaultCheckpointSigner(access.vault_session(), audit.KEY_NAME)
    await signer.load_public_key()
    first = await signer.sign(b"note one")
    # The kubelet rotates the projected token.
    access.vault_kubernetes_jwt_file.write_text(cluster.api.token(NAMESPACE, "audit"))
    await asyncio.sleep(SHORT_TTL_S + 0.5)  # the first login's token has expired by now
    second = await signer.sign(b"note two")

    key = load_pem_public_key(signer.public_key_pem.encode())
    key.verify(first, b"note one")
    key.verify(second, b"note two")


def test_a_revoked_token_is_replaced_at_the_next_call(cluster):
    access = cluster.login_as("keyvault", "consentry-keyvault-erasure-key", name="revoked")
    session = VaultSession(access.vault_address, login=access.vault_login(), relogin_floor_s=0)
    client = session.client()
    cluster.bao.client().auth.token.revoke(client.token)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version("consentry/erasure-key", raise_on_deleted_version=True)
    session.refused()

    secret = session.client().secrets.kv.v2.read_secret_version("consentry/erasure-key", raise_on_deleted_version=True)
    assert len(base64.b64decode(secret["data"]["data"]["key"])) == 32


async def test_keyvault_logged_in_as_its_account_releases_keys_past_its_tokens_lifetime(
        cluster, run_dir, postgres, kafka, dev_ca, consent_app, admin, gate, backend):
    database = f"keyvault_k8s_{backend.replace('-', '_')}"
    postgres.create_database(database)
    login = cluster.login_as("keyvault", "consentry-keyvault", mount="kubernetes-short", name="service")
    erasure = cluster.login_as("keyvault", "consentry-keyvault-erasure-key", name="service")
    settings = keyvault_settings(run_dir, dev_ca, postgres.dsn(database), kafka, consent_app.port,
                                 cluster.bao.address, "", backend,
                                 erasure=ErasureKeySettings(**erasure.model_dump()))
    settings = settings.model_copy(update={k: v for k, v in login.model_dump().items() if k != "vault_token"})
    app = KeyVaultApp(settings)
    await app.start()
    channel = secure_channel(dev_ca, app.port, "face-app")
    face = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
    try:
        subject, purpose = await consented(admin, gate)
        before = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
        await asyncio.sleep(SHORT_TTL_S + 0.5)  # the token keyvault logged in with has expired
        later, other_purpose = await consented(admin, gate)  # a new subject: a key made in Vault now
        after = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=later, purpose_id=other_purpose))
        reopened = await face.DecryptDataKey(pb.DecryptDataKeyRequest(
            subject_id=subject, purpose_id=purpose, wrapped_key=before.wrapped_key))
    finally:
        await channel.close()
        await app.stop()

    assert len(after.plaintext_key) == 32 and reopened.plaintext_key == before.plaintext_key
