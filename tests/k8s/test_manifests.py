"""deploy/k8s, validated offline (no cluster here): every overlay builds with kubectl's Kustomize; every
core object is valid for each Kubernetes version supported, strictly; every custom resource is valid
for its CRD (Strimzi 1.2, CloudNativePG 1.30, cert-manager 1.21); and the manifests agree with the code:
each environment variable a Deployment sets is one its service reads, each topic the platform names
has a KafkaTopic, each Kafka user carries exactly its grants of the ACL table, each policy client has
a certificate, each Vault login is a role provisioning binds to the pod's own account, and the network
policies allow exactly the calls the services are configured to make."""

import json
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel

from consentry_dev.policy import POLICY
from services.audit.settings import AuditSettings
from services.common.auth import Policy
from services.consent.settings import ConsentSettings
from services.dsr.settings import DsrSettings
from services.keyvault.settings import KeyVaultSettings
from services.portal.settings import PortalSettings
from services.common.topics import results_from, tasks_for
from services.provision.kafka_users import kafka_resources, kafka_user
from services.provision.topics import PLATFORM_TOPICS
from services.provision.vault import KUBERNETES_AUDIENCE, kubernetes_roles
from tests.k8s.crds import needs_crds, problems

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBECTL = Path(sys.executable).parent / "kubectl"
OVERLAYS = ("staging", "production")
KUBERNETES = ("1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0")
SETTINGS = {"consent": ConsentSettings, "keyvault": KeyVaultSettings, "dsr": DsrSettings, "audit": AuditSettings,
            "portal": PortalSettings}
CORE_GROUPS = ("v1", "apps/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1")


@cache
def built(overlay: str) -> tuple[dict, ...]:
    out = subprocess.run([str(KUBECTL), "kustomize", str(DEPLOY / "overlays" / overlay)], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def of_kind(overlay: str, kind: str) -> list[dict]:
    return [d for d in built(overlay) if d["kind"] == kind]


def env_of(deployment: dict) -> dict[str, dict]:
    return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_builds_into_the_namespace_it_names(overlay):
    objects = built(overlay)
    namespaces = {d["metadata"].get("namespace") for d in objects}

    assert {d["metadata"]["name"] for d in of_kind(overlay, "Deployment")} == set(SETTINGS)
    assert namespaces == {"consentry" if overlay == "production" else "consentry-staging"}


@pytest.mark.parametrize("version", KUBERNETES)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_core_object_is_valid_for_the_kubernetes_version_strictly(overlay, version):
    core = [d for d in built(overlay) if d["apiVersion"] in CORE_GROUPS]
    invalid = {}
    for d in core:
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            invalid[f"{d['kind']}/{d['metadata']['name']}"] = error.message
    assert len(core) > 20 and invalid == {}


@needs_crds()
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_custom_resource_is_valid_for_its_crd(overlay):
    custom = [d for d in built(overlay) if d["apiVersion"] not in CORE_GROUPS]
    found = {f"{d['kind']}/{d['metadata']['name']}": problems(d) for d in custom}

    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster", "Database", "ScheduledBackup",
            "Certificate", "Issuer"} <= {d["kind"] for d in custom}
    assert found == {name: [] for name in found}


def _reads(model: type[BaseModel], path: list[str]) -> bool:
    """Whether the settings model has the (nested) field a variable's name spells."""
    for i in range(1, len(path) + 1):
        field = model.model_fields.get("_".join(path[:i]))
        if field is None:
            continue
        rest = path[i:]
        if not rest:
            return True
        annotation = field.annotation
        nested = next((t for t in getattr(annotation, "__args__", (annotation,))
                       if isinstance(t, type) and issubclass(t, BaseModel)), None)
        if nested is not None and rest[0] == "" and _reads(nested, rest[1:]):  # "__" between the parts
            return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_a_deployment_sets_is_one_its_service_reads(overlay):
    unread = {}
    for deployment in of_kind(overlay, "Deployment"):
        service = deployment["metadata"]["name"]
        prefix = f"CONSENTRY_{service.upper()}_"
        names = [n for n in env_of(deployment) if n.startswith("CONSENTRY_")]
        unread[service] = [n for n in names if not n.startswith(prefix)
                           or not _reads(SETTINGS[service], n.removeprefix(prefix).lower().split("_"))]
    assert unread == {service: [] for service in SETTINGS}
    assert not _reads(ConsentSettings, "grpc__listne".split("_"))  # a misspelt one is caught


def test_every_platform_topic_has_a_kafka_topic_and_every_user_its_grants():
    topics = {t["spec"]["topicName"]: t for t in of_kind("production", "KafkaTopic")}
    users = {u["metadata"]["name"]: u for u in of_kind("production", "KafkaUser")}
    kafka_clients = {d["metadata"]["name"] for d in of_kind("production", "Deployment")
                     if any(n.endswith("KAFKA__BOOTSTRAP_SERVERS") for n in env_of(d))}

    assert set(topics) == set(PLATFORM_TOPICS)
    assert all(t["spec"]["replicas"] == 3 and t["spec"]["config"]["min.insync.replicas"] == 2 for t in topics.values())
    assert set(users) == kafka_clients == {"consent", "keyvault", "dsr", "audit"}
    assert {name: u["spec"] for name, u in users.items()} == {
        name: kafka_user(name, cluster="consentry")["spec"] for name in users}
    assert all(env_of(d)[f"CONSENTRY_{d['metadata']['name'].upper()}_KAFKA__IDEMPOTENT_PRODUCER"]["value"] == "true"
               for d in of_kind("production", "Deployment") if d["metadata"]["name"] in kafka_clients)


def test_the_policy_is_the_platforms_and_every_client_in_it_has_a_certificate():
    [config] = [c for c in of_kind("production", "ConfigMap") if c["metadata"]["name"] == "consentry-policy"]
    shipped = tomllib.loads(config["data"]["policy.toml"])["clients"]
    names = {c["spec"]["commonName"] for c in of_kind("production", "Certificate") if not c["spec"].get("isCA")}
    dev = tomllib.loads(POLICY)["clients"]

    Policy.parse({"clients": shipped})  # loads as every service will load it
    assert shipped == {name: grant for name, grant in dev.items() if name != "demo-gate"}
    assert set(shipped) <= names and set(SETTINGS) <= names


def _selected(rule_peers: list[dict]) -> set[str]:
    return {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in rule_peers
            if "app.kubernetes.io/name" in p.get("podSelector", {}).get("matchLabels", {})}


def test_the_network_policies_allow_exactly_the_calls_the_services_are_set_to_make():
    addresses = {}
    for d in of_kind("production", "Deployment"):
        service = d["metadata"]["name"]
        addresses[service] = {e["value"].split(":")[0] for n, e in env_of(d).items()  # Vault's are URLs
                              if n.endswith("_ADDRESS") and not e.get("value", "https:").startswith("http")}
    policies = {p["metadata"]["name"]: p["spec"] for p in of_kind("production", "NetworkPolicy")}
    egress = {s: set().union(*(_selected(r.get("to", [])) for r in policies[s]["egress"]
                               if {"protocol": "TCP", "port": 50051} in r.get("ports", [])))
              for s in SETTINGS}
    ingress = {s: set().union(*(_selected(r.get("from", [])) for r in policies[s]["ingress"]))
               for s in SETTINGS}
    called_by = {s: {caller for caller, callees in addresses.items() if s in callees} for s in SETTINGS}
    denied = policies["consentry-default-deny"]

    assert addresses["dsr"] == {"consent", "keyvault", "audit", "portal"}
    assert egress == addresses
    assert ingress == called_by
    assert set(denied["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in denied and "egress" not in denied


CHECKOV = DEPLOY.parents[1] / ".venv-checkov" / "bin" / "checkov"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_finds_no_failed_check_and_every_skip_says_why(overlay, tmp_path):
    assert CHECKOV.exists(), f"{CHECKOV} is missing: `make install` installs it"
    (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(built(overlay)))
    run = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes",
                          "--output", "json"], capture_output=True, text=True, timeout=300)
    results = json.loads(run.stdout)["results"]
    skipped = results["skipped_checks"]

    assert [(c["check_id"], c["resource"]) for c in results["failed_checks"]] == []
    assert len(results["passed_checks"]) > 300
    assert {c["check_id"] for c in skipped} == {"CKV_K8S_43", "CKV_K8S_35"}  # the image digest, the database URL
    assert all(len(c["check_result"].get("suppress_comment", "")) > 40 for c in skipped), skipped


def test_a_processors_topics_exist_where_dsr_may_not_make_them():
    [dsr] = [d for d in of_kind("production", "Deployment") if d["metadata"]["name"] == "dsr"]
    provisioned = {r["spec"]["topicName"] for r in kafka_resources("door-a", cluster="consentry")
                   if r["kind"] == "KafkaTopic"}

    assert env_of(dsr)["CONSENTRY_DSR_KAFKA__CREATE_TOPICS"]["value"] == "false"
    assert provisioned == {tasks_for("door-a"), results_from("door-a")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_certificate_names_the_service_in_the_overlays_namespace(overlay):
    namespace = "consentry" if overlay == "production" else "consentry-staging"
    names = {c["spec"]["commonName"]: c["spec"].get("dnsNames", []) for c in of_kind(overlay, "Certificate")}

    assert {s: names[s] for s in SETTINGS} == {
        s: [s, f"{s}.{namespace}.svc", f"{s}.{namespace}.svc.cluster.local"] for s in SETTINGS}


def test_each_vault_login_is_a_provisioned_role_of_the_deployments_own_account():
    """What a Deployment logs in as is what `consentry provision kubernetes-auth` binds: the role's
    ServiceAccount is the pod's, its audience the projected token's, and OpenBao's CA is mounted."""
    used = {}
    for deployment in of_kind("production", "Deployment"):
        pod, env = deployment["spec"]["template"]["spec"], env_of(deployment)
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        for name, variable in env.items():
            if not name.endswith("_VAULT_KUBERNETES_ROLE"):
                continue
            login = name.removesuffix("KUBERNETES_ROLE")
            token, ca = Path(env[f"{login}KUBERNETES_JWT_FILE"]["value"]), Path(env[f"{login}CA_FILE"]["value"])
            [source] = volumes[mounts[str(token.parent)]]["projected"]["sources"]
            used[variable["value"]] = (pod["serviceAccountName"], source["serviceAccountToken"]["audience"],
                                       volumes[mounts[str(ca.parent)]]["configMap"]["name"], env[f"{login}AUTH"]["value"])

    assert used == {role: (account, KUBERNETES_AUDIENCE, "openbao-ca", "kubernetes")
                    for role, (account, _) in kubernetes_roles().items()}
