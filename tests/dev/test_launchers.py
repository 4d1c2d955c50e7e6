"""The launchers start real PostgreSQL, Tansu and OpenBao processes."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from consentry_dev.launchers import OpenBaoProcess, PostgresProcess, TansuProcess
from consentry_dev.launchers.process import port_open


def all_gone(pids: list[int]) -> bool:
    """No pid is alive any more (zombies awaiting init count as gone)."""
    return not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresProcess]:
    with PostgresProcess(tmp_path_factory.mktemp("pg")) as pg:
        yield pg


@pytest.fixture(scope="module")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuProcess]:
    with TansuProcess(tmp_path_factory.mktemp("tansu")) as broker:
        yield broker


@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoProcess]:
    with OpenBaoProcess(tmp_path_factory.mktemp("bao")) as bao:
        yield bao


# -- PostgreSQL ---------------------------------------------------------------


async def test_postgres_answers_on_its_own_port(postgres: PostgresProcess) -> None:
    assert postgres.dsn() == f"postgresql://postgres:{postgres.password}@127.0.0.1:{postgres.port}/postgres"
    conn = await asyncpg.connect(postgres.dsn())
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert await conn.fetchval("SHOW port") == str(postgres.port)
        assert await conn.fetchval("SHOW fsync") == "off"
        assert await conn.fetchval("SHOW max_connections") == "200"
    finally:
        await conn.close()


async def test_every_connection_proves_its_password_and_a_role_enters_only_its_own_database(
        postgres: PostgresProcess) -> None:
    password = postgres.create_role("devstack_owner")
    postgres.create_database("devstack_owned", owner="devstack_owner")
    other = postgres.create_role("devstack_other")

    owner = await asyncpg.connect(postgres.dsn("devstack_owned", "devstack_owner", password))
    await owner.close()
    for dsn in (f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres",  # no password
                postgres.dsn("postgres", "postgres", "wrong"),
                postgres.dsn("devstack_owned", "devstack_other", other)):  # another role's database
        with pytest.raises((asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError,
                            asyncpg.InsufficientPrivilegeError)):
            await asyncpg.connect(dsn)
    assert postgres.password_file.stat().st_mode & 0o777 == 0o600


async def test_create_database_is_idempotent(postgres: PostgresProcess) -> None:
    postgres.create_database("devstack_check")
    postgres.create_database("devstack_check")
    conn = await asyncpg.connect(postgres.dsn("devstack_check"))
    try:
        assert await conn.fetchval("SELECT current_database()") == "devstack_check"
    finally:
        await conn.close()
    count = postgres.execute("SELECT count(*) FROM pg_database WHERE datname = $1", "devstack_check")
    assert count == 1


@pytest.mark.slow
async def test_postgres_keeps_data_across_kill_and_restart(tmp_path: Path) -> None:
    with PostgresProcess(tmp_path) as pg:
        port, postmaster = pg.port, pg.pid
        assert postmaster is not None
        conn = await asyncpg.connect(pg.dsn())
        await conn.execute("CREATE TABLE survivor (id int PRIMARY KEY, note text)")
        await conn.execute("INSERT INTO survivor VALUES (1, 'still here')")
        # postgres makes each child a session leader, so these are not in the postmaster's group
        backends = [child.pid for child in psutil.Process(postmaster).children()]
        assert len(backends) > 3  # checkpointer, walwriter, ..., and this connection's backend

        pg.kill()
        assert not pg.is_running
        assert all_gone([postmaster, *backends])
        with pytest.raises((OSError, asyncpg.PostgresError)):
            await conn.fetchval("SELECT 1")
        conn.terminate()

        pg.restart()
        assert pg.is_running and pg.port == port
        assert "automatic recovery in progress" in pg.log_path.read_text()
        conn = await asyncpg.connect(pg.dsn())
        try:
            assert await conn.fetchval("SELECT note FROM survivor WHERE id = 1") == "still here"
        finally:
            await conn.close()
    assert not pg.is_running and not port_open(port)


# -- Tansu (Kafka protocol) ---------------------------------------------------


async def produce_and_consume(broker: TansuProcess, topic: str) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, acks="all", enable_idempotence=False
    )
    await producer.start()
    try:
        assert await producer.partitions_for(topic) == {0, 1, 2}
        sent = await producer.send_and_wait(
            topic, b"consent-granted", key=b"subject-1", headers=[("trace", b"t-1")]
        )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, sent.partition)])
        record = await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
    assert (record.offset, record.key, record.value) == (sent.offset, b"subject-1", b"consent-granted")
    assert list(record.headers) == [("trace", b"t-1")]


async def test_tansu_round_trip_with_acks_all(tansu: TansuProcess) -> None:
    assert tansu.bootstrap_servers == f"127.0.0.1:{tansu.port}"
    tansu.create_topics(["devstack.roundtrip"], partitions=3)
    tansu.create_topics(["devstack.roundtrip"], partitions=3)
    assert "devstack.roundtrip" in tansu.list_topics()
    await produce_and_consume(tansu, "devstack.roundtrip")


async def test_tansu_rejects_idempotent_producer(tansu: TansuProcess) -> None:
    """Documents why every producer in the codebase sets enable_idempotence=False."""
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap_servers, enable_idempotence=True)
    try:
        with pytest.raises(KafkaError):
            await asyncio.wait_for(producer.start(), timeout=10)
    finally:
        await producer.stop()


@pytest.mark.slow
async def test_tansu_answers_again_after_kill_but_forgets_topics(tmp_path: Path) -> None:
    with TansuProcess(tmp_path) as broker:
        broker.create_topics(["devstack.volatile"])
        pid = broker.pid
        assert pid is not None

        broker.kill()
        assert not broker.is_running and all_gone([pid])
        assert not port_open(broker.port)

        broker.restart()
        assert "devstack.volatile" not in broker.list_topics()
        broker.create_topics(["devstack.volatile"])
        await produce_and_consume(broker, "devstack.volatile")


def test_start_failure_reports_the_log(tansu: TansuProcess, tmp_path: Path) -> None:
    # The running broker would answer metadata requests on this port; readiness must not be fooled.
    clash = TansuProcess(tmp_path, port=tansu.port)
    with pytest.raises(RuntimeError, match="exited with code") as failure:
        clash.start(timeout=20)
    assert str(clash.log_path) in str(failure.value)
    assert clash.log_tail() in str(failure.value) and clash.log_tail() != "<no log>"
    assert not clash.is_running


# -- OpenBao ------------------------------------------------------------------


def test_openbao_is_unsealed_and_accepts_root_token(openbao: OpenBaoProcess) -> None:
    assert openbao.address == f"http://127.0.0.1:{openbao.port}"
    client = openbao.client()
    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False
    assert client.is_authenticated()
    # bao's token helper writes into $HOME, which must stay inside the run dir.
    assert (openbao.home_dir / ".vault-token").read_text() == openbao.root_token
    assert openbao.pid is not None
    listening = {
        c.laddr.port for c in psutil.Process(openbao.pid).net_connections("tcp") if c.status == "LISTEN"
    }
    assert listening == {openbao.port}  # no extra cluster listener on port + 1


def test_openbao_transit_round_trip(openbao: OpenBaoProcess) -> None:
    openbao.enable_transit()
    openbao.enable_transit()
    client = openbao.client()
    assert "transit/" in client.sys.list_mounted_secrets_engines()["data"]
    client.secrets.transit.create_key(name="devstack-check")
    plaintext = base64.b64encode(b"face-template-bytes").decode()
    encrypted = client.secrets.transit.encrypt_data(name="devstack-check", plaintext=plaintext)
    ciphertext = encrypted["data"]["ciphertext"]
    assert ciphertext.startswith("vault:v1:")
    decrypted = client.secrets.transit.decrypt_data(name="devstack-check", ciphertext=ciphertext)
    assert base64.b64decode(decrypted["data"]["plaintext"]) == b"face-template-bytes"


@pytest.mark.skipif(os.geteuid() != 0, reason="runs children as another user, as the PostgreSQL launcher does")
async def test_children_forked_while_grpc_calls_are_in_flight_all_exec():
    """The PostgreSQL launcher forks (to change user) while the tests' channels are busy; grpcio's fork
    handlers crashed such children before exec (about 4 in 10 here without GRPC_ENABLE_FORK_SUPPORT)."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)

    async def busy() -> None:
        while True:
            await stub.Check(health_pb2.HealthCheckRequest())

    caller = asyncio.create_task(busy())
    try:
        codes = [(await asyncio.to_thread(subprocess.run, ["/bin/true"], user="nobody")).returncode
                 for _ in range(100)]
    finally:
        caller.cancel()
        await channel.close()
        await server.stop(None)

    assert codes == [0] * 100
