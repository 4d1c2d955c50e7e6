"""The ACL table says what the services do with Kafka and nothing more: each service may write the
topic its settings name and read what it consumes; a processor reads only its own tasks and writes
only its own results; nobody but consent writes consent.events."""

import pytest

from services.audit.settings import AuditSettings
from services.common.settings import KafkaSettings
from services.common.topics import (
    CONSENT_EVENTS, REPLAY_REQUESTS, Operation, allowed, processor_of_results, results_from, tasks_for,
)
from services.consent.settings import ConsentSettings
from services.dsr.settings import DsrSettings
from services.keyvault.settings import KeyVaultSettings

READ, WRITE = Operation.READ, Operation.WRITE
PROCESSORS = ("door-a", "bank-app")
KAFKA = KafkaSettings(security_protocol="PLAINTEXT")


def defaults(settings_type):
    """A service's settings as it starts without any topic overridden."""
    return settings_type.model_construct(kafka=KAFKA)


@pytest.mark.parametrize("name, settings_type", [("consent", ConsentSettings), ("keyvault", KeyVaultSettings),
                                                 ("dsr", DsrSettings)])
def test_each_producer_may_write_its_own_events_topic_and_read_replay_requests(name, settings_type):
    topic = defaults(settings_type).topic

    assert allowed(name, WRITE, topic)
    assert allowed(name, READ, REPLAY_REQUESTS)
    assert not [other for other in ("consent", "keyvault", "dsr", "audit", *PROCESSORS)
                if other != name and allowed(other, WRITE, topic, processors=PROCESSORS)]


def test_audit_reads_every_events_topic_and_writes_none():
    for topic in defaults(AuditSettings).topics:
        assert allowed("audit", READ, topic) and not allowed("audit", WRITE, topic)
    assert allowed("audit", WRITE, REPLAY_REQUESTS)


def test_dsr_reads_consent_events_and_every_processors_results_and_writes_their_tasks():
    assert allowed("dsr", READ, defaults(DsrSettings).consent_topic)
    for p in PROCESSORS:
        assert allowed("dsr", WRITE, tasks_for(p)) and allowed("dsr", READ, results_from(p))


def test_a_processor_reads_only_its_own_tasks_and_writes_only_its_own_results():
    me, other = PROCESSORS
    mine = dict(processors=PROCESSORS)

    assert allowed(me, READ, tasks_for(me), **mine) and allowed(me, WRITE, results_from(me), **mine)
    assert not allowed(me, READ, tasks_for(other), **mine)
    assert not allowed(me, WRITE, results_from(other), **mine)
    assert not allowed(me, WRITE, tasks_for(me), **mine)
    assert not allowed(me, WRITE, CONSENT_EVENTS, **mine)


def test_the_results_topic_names_its_processor():
    assert processor_of_results(results_from("door-a")) == "door-a"
    assert processor_of_results(tasks_for("door-a")) == processor_of_results(CONSENT_EVENTS) == ""
