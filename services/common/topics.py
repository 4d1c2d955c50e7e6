"""The Kafka topics of the platform and who may do what on each: the one table the services' topic
names come from and the production broker's ACLs are written from (one KafkaUser per service and per
processor, see deploy/k8s). A principal is the name a client proves to the broker: its certificate's
common name (mTLS) or its SCRAM user, the same name as its gRPC identity. Tansu, the dev broker, has
no ACLs: there the table is enforced only by convention and by the services' own checks (dsr asks
consent before acting on a withdrawal; a processor asks dsr before acting on a task)."""

import re
from dataclasses import dataclass
from enum import Enum

CONSENT_EVENTS = "consent.events"
KEYVAULT_EVENTS = "keyvault.events"
DSR_EVENTS = "dsr.events"
REPLAY_REQUESTS = "outbox.replay-requests"
# One topic of tasks and one of results per processor, so a broker ACL can keep every face system to
# its own: none reads another's subjects or corrections, none answers for another.
TASKS_PREFIX = "dsr.tasks."
RESULTS_PREFIX = "dsr.task-results."
DSR_GROUP = "consentry-dsr"
PROCESSOR_GROUP_PREFIX = "consentry-processor-"
# A processor's name is part of topic names: Kafka allows only these characters there.
PROCESSOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
PROCESSOR = "{processor}"  # in the table: every registered processor, each under its own name


def tasks_for(processor: str) -> str:
    return TASKS_PREFIX + processor


def results_from(processor: str) -> str:
    return RESULTS_PREFIX + processor


def processor_of_results(topic: str) -> str:
    """The processor whose results topic this is ("" for any other topic)."""
    return topic.removeprefix(RESULTS_PREFIX) if topic.startswith(RESULTS_PREFIX) else ""


class Operation(Enum):
    READ = "Read"
    WRITE = "Write"
    CREATE = "Create"


@dataclass(frozen=True)
class Grant:
    principal: str
    resource: str  # a topic, or a consumer group when `group` is set
    operations: tuple[Operation, ...]
    prefix: bool = False  # the resource names every topic starting with it
    group: bool = False

    def for_processor(self, name: str) -> "Grant":
        return Grant(self.principal.replace(PROCESSOR, name), self.resource.replace(PROCESSOR, name),
                     self.operations, self.prefix, self.group)


R, W = (Operation.READ,), (Operation.WRITE,)
ACLS: tuple[Grant, ...] = (
    Grant("consent", CONSENT_EVENTS, W),
    Grant("keyvault", KEYVAULT_EVENTS, W),
    Grant("dsr", DSR_EVENTS, W),
    *(Grant(producer, REPLAY_REQUESTS, R) for producer in ("consent", "keyvault", "dsr")),
    Grant("dsr", CONSENT_EVENTS, R),
    Grant("dsr", DSR_GROUP, R, group=True),
    # dsr creates a processor's two topics when it registers, sends it tasks and reads its results.
    Grant("dsr", TASKS_PREFIX, (Operation.WRITE, Operation.CREATE), prefix=True),
    Grant("dsr", RESULTS_PREFIX, (Operation.READ, Operation.CREATE), prefix=True),
    *(Grant("audit", topic, R) for topic in (CONSENT_EVENTS, KEYVAULT_EVENTS, DSR_EVENTS)),
    Grant("audit", REPLAY_REQUESTS, W),
    Grant(PROCESSOR, TASKS_PREFIX + PROCESSOR, R),
    Grant(PROCESSOR, RESULTS_PREFIX + PROCESSOR, W),
    Grant(PROCESSOR, PROCESSOR_GROUP_PREFIX + PROCESSOR, R, group=True),
)


def allowed(principal: str, operation: Operation, topic: str, *, processors: tuple[str, ...] = ()) -> bool:
    """Whether the table lets `principal` do `operation` on `topic` (processors: those registered)."""
    grants = [g for g in ACLS if PROCESSOR not in g.principal + g.resource]
    grants += [g.for_processor(p) for g in ACLS if PROCESSOR in g.principal + g.resource for p in processors]
    return any(g.principal == principal and operation in g.operations and not g.group
               and (topic.startswith(g.resource) if g.prefix else topic == g.resource) for g in grants)
