"""Kafka users as Strimzi's User Operator makes them: a KafkaUser (kafka.strimzi.io/v1) per service and
per processor, its ACLs exactly those of the platform's table (services/common/topics.py), so the
broker enforces what the table says: only consent writes consent.events, a processor reads only its
own tasks and writes only its own results. Applied with `kubectl apply`, which leaves a user that is
already as written unchanged; the operator then makes its credential (a client certificate, or a SCRAM
password) in a Secret of the same name.

A Write on a topic also lets an idempotent producer initialise (Kafka 3.0 and later), and Read or
Write imply Describe, so the table's operations are all a client needs."""

import re

from services.common.topics import ACLS, PROCESSOR, PROCESSOR_NAME, Grant

# The platform's own Kafka clients; any other name is a processor's (a face system's identity).
SERVICE_USERS = ("consent", "keyvault", "dsr", "audit")
AUTHENTICATIONS = ("tls", "scram-sha-512")
# A KafkaUser's name is its principal and a Kubernetes object's name (a DNS subdomain).
RESOURCE_NAME = re.compile(r"[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?")


def grants_of(name: str) -> list[Grant]:
    """The table's grants for one principal: a service's own, or a processor's under its name."""
    if name in SERVICE_USERS:
        return [g for g in ACLS if g.principal == name]
    if not PROCESSOR_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is neither a service ({', '.join(SERVICE_USERS)}) nor a processor's name"
                         " (1-128 letters, digits and ._-, as its topics are named)")
    return [g.for_processor(name) for g in ACLS if g.principal == PROCESSOR]


def kafka_user(name: str, *, cluster: str, namespace: str = "", authentication: str = "tls") -> dict:
    """The KafkaUser of `name` on the Strimzi cluster `cluster`."""
    grants = grants_of(name)
    if not RESOURCE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} cannot be a KafkaUser: Kubernetes names are lower-case letters, digits, '-' and"
                         " '.'; such a processor needs a broker user made by other means, or a name that fits")
    if authentication not in AUTHENTICATIONS:
        raise ValueError(f"authentication must be one of {', '.join(AUTHENTICATIONS)}")
    metadata = {"name": name, "labels": {"strimzi.io/cluster": cluster, "app.kubernetes.io/part-of": "consentry"}}
    if namespace:
        metadata["namespace"] = namespace
    acls = [{"resource": {"type": "group" if g.group else "topic", "name": g.resource,
                          "patternType": "prefix" if g.prefix else "literal"},
             "operations": [operation.value for operation in g.operations]}
            for g in grants]
    return {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaUser", "metadata": metadata,
            "spec": {"authentication": {"type": authentication},
                     "authorization": {"type": "simple", "acls": acls}}}
