"""How a face system reaches Kafka: always over TLS, and as itself, by its client certificate (the
broker's mTLS) or a SCRAM user, whichever the broker's operator gave it. One credential per face
system: the broker's ACLs let it read only its own tasks and answer only as itself."""

import asyncio
import contextlib
from collections.abc import Iterator
from os import PathLike

from aiokafka import AIOKafkaConsumer
from aiokafka.helpers import create_ssl_context

# A processor's own topics (DsrService.RegisterProcessor creates them).
TASKS_PREFIX = "dsr.tasks."
RESULTS_PREFIX = "dsr.task-results."


def kafka_options(bootstrap_servers: str, *, ca: str | PathLike | None = None, cert: str | PathLike | None = None,
                  key: str | PathLike | None = None, username: str = "", password: str = "",
                  mechanism: str = "SCRAM-SHA-512") -> dict:
    """aiokafka's connection arguments. `ca` verifies the broker (the system's CAs when None); give
    `cert` and `key`, or `username` and `password`."""
    context = create_ssl_context(cafile=str(ca) if ca else None, certfile=str(cert) if cert else None,
                                 keyfile=str(key) if key else None)
    options = {"bootstrap_servers": bootstrap_servers, "security_protocol": "SSL", "ssl_context": context}
    if username and password:
        options.update(security_protocol="SASL_SSL", sasl_mechanism=mechanism, sasl_plain_username=username,
                       sasl_plain_password=password)
    elif not (cert and key):
        raise ValueError("a face system proves who it is to Kafka: give cert and key, or username and password")
    return options


class StrayCancellation(RuntimeError):
    """aiokafka let out a CancelledError of its own (it cancels fetches and other tasks of its own, and
    such a cancellation can reach whoever awaits the client), while nothing cancelled the task awaiting
    it: a failure of the client, to retry on like any other, not a cancellation."""


@contextlib.contextmanager
def stray_cancellation_as_error() -> Iterator[None]:
    """Around work with a Kafka client: a CancelledError while the task is not being cancelled comes out
    as StrayCancellation. Without this, a loop that re-raises every CancelledError ends on it for good
    (asyncio takes the task for cancelled) and the service goes on without it, saying nothing."""
    try:
        yield
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise StrayCancellation("the Kafka client ended with a CancelledError of its own") from None


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stops `consumer` whole, even when aiokafka's stop fails half-way or its caller is cancelled
    meanwhile. The stop runs as a task of its own, shielded: a cancellation of the caller waits for it
    to end and then propagates, rather than leaving the fetcher and the group's tasks running (they
    would open connections again)."""
    stopping = asyncio.create_task(_stop(consumer))
    try:
        await asyncio.shield(stopping)
    except asyncio.CancelledError:
        await asyncio.wait([stopping])
        raise


async def _stop(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        # Nothing cancels this task: this is aiokafka's own. Closing its fetcher awaits the fetches it has
        # just cancelled and re-raises the CancelledError of one waiting to retry (aio-libs/aiokafka#647),
        # skipping the other fetches and the connections.
        await close_what_stop_skipped(consumer)


async def close_what_stop_skipped(consumer: AIOKafkaConsumer) -> None:
    fetches = list(consumer._fetcher._pending_tasks)  # noqa: SLF001 - what stop() did not get to
    for fetch in fetches:
        fetch.cancel()
    await asyncio.gather(*fetches, return_exceptions=True)
    await consumer._client.close()  # noqa: SLF001
