"""The platform's Kafka topics, on a broker that exists, for where the services' users may not create
them (`KAFKA__CREATE_TOPICS=false`) and no operator (Strimzi's KafkaTopic) manages them. A processor's
task and result topics are made by dsr when the processor registers."""

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from services.common.kafka import client_options
from services.common.settings import KafkaSettings
from services.common.topics import CONSENT_EVENTS, DSR_EVENTS, KEYVAULT_EVENTS, REPLAY_REQUESTS
from services.provision import ProvisionError, Provisioned

PLATFORM_TOPICS = (CONSENT_EVENTS, KEYVAULT_EVENTS, DSR_EVENTS, REPLAY_REQUESTS)


async def provision_topics(settings: KafkaSettings, topics: tuple[str, ...] = PLATFORM_TOPICS, partitions: int = 3,
                           replication_factor: int = 1) -> Provisioned:
    """Creates the topics that are missing; one that exists is left as it is, partitions and all."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=settings.request_timeout_ms)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [NewTopic(t, partitions, replication_factor) for t in dict.fromkeys(topics) if t not in existing]
        response = await admin.create_topics(missing) if missing else None
    except KafkaError as error:
        raise ProvisionError(f"Kafka at {settings.bootstrap_servers}: {error}") from None  # names its type
    except OSError as error:
        raise ProvisionError(f"cannot reach Kafka at {settings.bootstrap_servers}: {error}") from None
    finally:
        await admin.close()
    # Per topic: its error code (0: created) and message.
    answers = {topic: (code, rest[0] if rest else None) for topic, code, *rest in getattr(response, "topic_errors", [])}
    refused = [f"{topic}: {for_code(code).__name__}{f' ({message})' if message else ''}"
               for topic, (code, message) in answers.items() if code and for_code(code) is not TopicAlreadyExistsError]
    if refused:
        raise ProvisionError(f"Kafka at {settings.bootstrap_servers} refused to create {'; '.join(refused)}")
    return Provisioned([f"topic {t.name}" for t in missing if not answers.get(t.name, (0, None))[0]])
