"""The platform's Kafka topics, on a broker that exists, for where the services' users may not create
them (`KAFKA__CREATE_TOPICS=false`) and no operator (Strimzi's KafkaTopic) manages them. A processor's
task and result topics are made by dsr when the processor registers."""

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.common.kafka import TopicsRefused, client_options, create_missing_topics
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
        created = await create_missing_topics(admin, list(topics), partitions, replication_factor)
    except TopicsRefused as refused:
        raise ProvisionError(f"Kafka at {settings.bootstrap_servers} refused to create {refused}") from None
    except KafkaError as error:
        raise ProvisionError(f"Kafka at {settings.bootstrap_servers}: {error}") from None  # names its type
    except OSError as error:
        raise ProvisionError(f"cannot reach Kafka at {settings.bootstrap_servers}: {error}") from None
    finally:
        await admin.close()
    return Provisioned([f"topic {name}" for name in created])
