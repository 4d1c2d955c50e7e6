"""Kafka users as Strimzi's User Operator makes them: a KafkaUser (kafka.strimzi.io/v1) per service and
per processor, its ACLs exactly those of the platform's table (services/common/topics.py), so the
broker enforces what the table says: only consent writes consent.events, a processor reads only its
own tasks and writes only its own results. A processor also gets its two topics as KafkaTopics, since
where topics are managed (`KAFKA__CREATE_TOPICS=false`) dsr makes none. Applied with `kubectl apply`,
which leaves what is already as written unchanged; the operator then makes the user's client
certificate in a Secret of the same name.

A Write on a topic also lets an idempotent producer initialise (Kafka 3.0 and later), and Read or
Write imply Describe, so the table's operations are all a client needs."""

import re

from services.common.topics import ACLS, PROCESSOR, PROCESSOR_NAME, Grant, results_from, tasks_for

# The platform's own Kafka clients; other identities of the platform are not Kafka clients at all, and
# any other name is a processor's (a face system's identity).
SERVICE_USERS = ("consent", "keyvault", "dsr", "audit")
NOT_KAFKA_CLIENTS = ("portal", "console", "admin", "dpo")
# A KafkaUser's name is its principal and a Kubernetes object's name; Strimzi takes at most 64
# characters for a user with a client certificate (its common name).
RESOURCE_NAME = re.compile(r"[a-z0-9]([-.a-z0-9]{0,62}[a-z0-9])?")
WEEK_MS = str(7 * 24 * 3600 * 1000)  # what a topic keeps (deploy/k8s/base/kafka.yaml: the platform's topics)


def grants_of(name: str) -> list[Grant]:
    """The table's grants for one principal: a service's own, or a processor's under its name."""
    if name in SERVICE_USERS:
        return [g for g in ACLS if g.principal == name]
    if name in NOT_KAFKA_CLIENTS:
        raise ValueError(f"{name!r} is an identity of the platform that uses no Kafka")
    if not PROCESSOR_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is neither a service ({', '.join(SERVICE_USERS)}) nor a processor's name"
                         " (1-128 letters, digits and ._-, as its topics are named)")
    return [g.for_processor(name) for g in ACLS if g.principal == PROCESSOR]


def _metadata(name: str, cluster: str, namespace: str) -> dict:
    metadata = {"name": name, "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "consentry"}}
    if namespace:
        metadata["namespace"] = namespace
    return metadata


def kafka_user(name: str, *, cluster: str, namespace: str = "") -> dict:
    """The KafkaUser of `name` on the Strimzi cluster `cluster`, authenticated by its client certificate."""
    grants = grants_of(name)
    if not RESOURCE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} cannot be a KafkaUser: at most 64 lower-case letters, digits, '-' and '.';"
                         " such a processor needs a broker user made by other means, or a name that fits")
    acls = [{"resource": {"type": "group" if g.group else "topic", "name": g.resource,
                          "patternType": "prefix" if g.prefix else "literal"},
             "operations": [operation.value for operation in g.operations]}
            for g in grants]
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaUser", "metadata": _metadata(name, cluster, namespace),
            "spec": {"authentication": {"type": "tls"}, "authorization": {"type": "simple", "acls": acls}}}


def kafka_resources(name: str, *, cluster: str, namespace: str = "") -> list[dict]:
    """A service's KafkaUser; a processor's, and its tasks and results topics."""
    user = kafka_user(name, cluster=cluster, namespace=namespace)
    if name in SERVICE_USERS:
        return [user]
    return [user, *({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
                     "metadata": _metadata(topic, cluster, namespace),
                     "spec": {"topicName": topic, "partitions": 3, "replicas": 3,
                              "config": {"retention.ms": WEEK_MS, "min.insync.replicas": 2,
                                         "cleanup.policy": "delete"}}}
                    for topic in (tasks_for(name), results_from(name)))]
