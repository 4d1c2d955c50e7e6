"""`consentry provision kafka-user`: each service's and each processor's Strimzi KafkaUser carries
exactly its grants of the platform's table, so the broker enforces the table, and a processor gets its
two topics; each is a valid resource of Strimzi 1.2; a name that cannot be one is one clear line."""

import json
import subprocess
import sys

import pytest

from services.common.topics import CONSENT_EVENTS, Operation, allowed
from services.common.topics import results_from, tasks_for
from services.provision.kafka_users import SERVICE_USERS, kafka_resources, kafka_user
from tests.k8s.crds import needs_crds, problems

CONSENTRY = [sys.executable, "-m", "services.cli.main", "provision", "kafka-user"]
TOPICS_SEEN = (CONSENT_EVENTS, "keyvault.events", "dsr.events", "outbox.replay-requests", "dsr.tasks.door-a",
               "dsr.tasks.door-b", "dsr.task-results.door-a", "dsr.task-results.door-b")


def may(user: dict, operation: Operation, topic: str) -> bool:
    """What the broker lets the KafkaUser do on a topic, read from its ACLs as Kafka reads them."""
    return any(acl["resource"]["type"] == "topic" and operation.value in acl["operations"]
               and (topic.startswith(acl["resource"]["name"]) if acl["resource"]["patternType"] == "prefix"
                    else topic == acl["resource"]["name"])
               for acl in user["spec"]["authorization"]["acls"])


@pytest.mark.parametrize("name", [*SERVICE_USERS, "door-a"])
def test_a_users_acls_allow_exactly_what_the_table_allows(name):
    user = kafka_user(name, cluster="consentry")
    registered = ("door-a", "door-b")

    for topic in TOPICS_SEEN:
        for operation in Operation:
            assert may(user, operation, topic) == allowed(name, operation, topic, processors=registered), \
                (name, operation, topic)
    assert user["metadata"]["name"] == name and user["metadata"]["labels"]["strimzi.io/cluster"] == "consentry"


def test_only_consent_writes_consent_events_and_a_processor_reads_its_own_tasks_only():
    writers = [name for name in (*SERVICE_USERS, "door-a") if may(kafka_user(name, cluster="c"), Operation.WRITE,
                                                                   CONSENT_EVENTS)]
    door = kafka_user("door-a", cluster="c")

    assert writers == ["consent"]
    assert may(door, Operation.READ, "dsr.tasks.door-a") and not may(door, Operation.READ, "dsr.tasks.door-b")
    assert not may(door, Operation.WRITE, "dsr.task-results.door-b")
    assert {acl["resource"]["name"] for acl in door["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == "group"} == {"consentry-processor-door-a"}


def test_a_processor_gets_its_own_two_topics_and_a_service_none():
    door = kafka_resources("door-a", cluster="consentry")
    service = kafka_resources("dsr", cluster="consentry")

    assert [(r["kind"], r["spec"].get("topicName")) for r in door] == [
        ("KafkaUser", None), ("KafkaTopic", tasks_for("door-a")), ("KafkaTopic", results_from("door-a"))]
    assert all(t["spec"]["replicas"] == 3 and t["spec"]["config"]["min.insync.replicas"] == 2 for t in door[1:])
    assert [r["kind"] for r in service] == ["KafkaUser"]


@needs_crds()
def test_every_resource_is_valid_for_strimzi():
    resources = [r for name in (*SERVICE_USERS, "door-a")
                 for r in kafka_resources(name, cluster="consentry", namespace="consentry")]
    broken = dict(resources[0], spec={**resources[0]["spec"], "authorisation": {}})  # a misspelt field is caught

    assert {r["metadata"]["name"]: problems(r) for r in resources} == {r["metadata"]["name"]: [] for r in resources}
    assert problems(broken) != []


def test_the_command_prints_the_manifest_and_refuses_a_name_in_one_line():
    printed = subprocess.run([*CONSENTRY, "door-a", "--namespace", "faces"], capture_output=True, text=True,
                             timeout=60)
    upper = subprocess.run([*CONSENTRY, "Door_A"], capture_output=True, text=True, timeout=60)
    spaced = subprocess.run([*CONSENTRY, "door a"], capture_output=True, text=True, timeout=60)
    portal = subprocess.run([*CONSENTRY, "portal"], capture_output=True, text=True, timeout=60)

    assert printed.returncode == 0 and json.loads(printed.stdout) == {
        "apiVersion": "v1", "kind": "List", "items": kafka_resources("door-a", cluster="consentry", namespace="faces")}
    assert upper.returncode == spaced.returncode == portal.returncode == 1
    assert upper.stderr.count("\n") == spaced.stderr.count("\n") == portal.stderr.count("\n") == 1
    assert "cannot be a KafkaUser" in upper.stderr and "neither a service" in spaced.stderr
    assert "uses no Kafka" in portal.stderr
