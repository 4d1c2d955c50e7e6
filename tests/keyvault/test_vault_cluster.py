"""A three-node OpenBao raft cluster survives the crash of its active node.

What the keyvault relies on when OpenBao runs highly available: any node serves transit (standbys
forward to the active one), a SIGKILLed leader is replaced by one of the others without losing keys,
and the crashed node comes back by itself: it unseals through the transit seal and rejoins as a
standby. Timings are printed (run with -s), not asserted: they depend on the machine.
"""

import base64
import time

import hvac
import pytest

from consentry_dev.launchers.procfs import pid_alive
from consentry_dev.launchers.process import port_open
from consentry_dev.launchers.vault_cluster import SEAL_KEY, OpenBaoCluster

KEY = "consent-records"
PLAINTEXT = b"subject 42 withdrew consent"


def encrypt(client: hvac.Client, plaintext: bytes) -> str:
    answer = client.secrets.transit.encrypt_data(KEY, base64.b64encode(plaintext).decode())
    return answer["data"]["ciphertext"]


def decrypt(client: hvac.Client, ciphertext: str) -> bytes:
    return base64.b64decode(client.secrets.transit.decrypt_data(KEY, ciphertext)["data"]["plaintext"])


def unseals_in_log(cluster: OpenBaoCluster, node: int) -> int:
    """The node's log is appended to across restarts: one line per auto-unseal through transit."""
    return cluster.nodes[node].log_path.read_text(errors="replace").count("unsealed with stored key")


@pytest.mark.slow
def test_cluster_fails_over_and_takes_back_its_crashed_leader(tmp_path_factory: pytest.TempPathFactory) -> None:
    with OpenBaoCluster(tmp_path_factory.mktemp("vault-cluster")) as cluster:
        print(f"\ncluster formed in {cluster.startup_seconds:.1f}s")
        pids = [node.pid for node in cluster.nodes] + [cluster.seal.pid]
        ports = [node.port for node in cluster.nodes] + [node.cluster_port for node in cluster.nodes]

        # Formed: three voters, one active node, two standbys.
        peers = cluster.peers()
        assert sorted(peer["node_id"] for peer in peers) == ["node-0", "node-1", "node-2"]
        assert all(peer["voter"] for peer in peers)
        old_leader = cluster.leader()
        assert old_leader is not None
        standbys = [node for node in range(3) if node != old_leader]
        assert all(cluster.health(node)["standby"] is True for node in standbys)

        # A key made through the leader serves through either standby (they forward to the leader).
        leader_client = cluster.root_client(old_leader)
        leader_client.sys.enable_secrets_engine("transit")
        leader_client.secrets.transit.create_key(KEY)
        ciphertext = encrypt(cluster.root_client(standbys[0]), PLAINTEXT)
        assert decrypt(cluster.root_client(standbys[1]), ciphertext) == PLAINTEXT
        assert unseals_in_log(cluster, old_leader) == 1

        # The nodes' seal token can use the seal key and nothing else.
        seal = hvac.Client(url=cluster.seal.address, token=cluster.nodes[0].seal["token"])
        seal.secrets.transit.encrypt_data(SEAL_KEY, base64.b64encode(b"probe").decode())
        with pytest.raises(hvac.exceptions.Forbidden):
            seal.secrets.transit.create_key("another-key")
        with pytest.raises(hvac.exceptions.Forbidden):
            seal.secrets.transit.read_key(SEAL_KEY)

        # The leader crashes: one of the other two takes over, with the key.
        killed_at = time.monotonic()
        cluster.kill(old_leader)
        assert not cluster.nodes[old_leader].is_running and not pid_alive(pids[old_leader])
        assert cluster.health(old_leader) is None
        new_leader = cluster.wait_for_leader(exclude=[old_leader])
        elected = time.monotonic() - killed_at
        assert new_leader in standbys
        survivor = next(node for node in standbys if node != new_leader)
        assert cluster.health(survivor)["standby"] is True
        assert decrypt(cluster.root_client(new_leader), ciphertext) == PLAINTEXT
        again = encrypt(cluster.root_client(survivor), PLAINTEXT)
        assert decrypt(cluster.root_client(survivor), again) == PLAINTEXT
        served = time.monotonic() - killed_at
        print(f"node {old_leader} killed: node {new_leader} active after {elected:.1f}s, "
              f"transit through standby node {survivor} after {served:.1f}s")

        # Started again, the crashed node unseals through transit by itself and rejoins as a standby.
        restarted_at = time.monotonic()
        cluster.start(old_leader)
        print(f"node {old_leader} back as a standby after {time.monotonic() - restarted_at:.1f}s")
        assert unseals_in_log(cluster, old_leader) == 2
        health = cluster.health(old_leader)
        assert health["sealed"] is False and health["standby"] is True
        assert all(peer["voter"] for peer in cluster.peers()) and len(cluster.peers()) == 3
        assert decrypt(cluster.root_client(old_leader), again) == PLAINTEXT
        assert decrypt(cluster.root_client(old_leader), encrypt(cluster.root_client(old_leader), b"x")) == b"x"
        pids[old_leader] = cluster.nodes[old_leader].pid

    assert not any(pid_alive(pid) for pid in pids if pid is not None)
    assert not any(port_open(port) for port in ports)
