"""Real infrastructure processes (PostgreSQL, Kafka-compatible broker, OpenBao, a 3-node OpenBao raft
cluster) on free loopback ports.

Used by the dev command and the test-suite so both exercise the same binaries
that production-like setups talk to, rather than fakes.
"""

from .kafka import BrokerTls, TansuProcess, broker_tls
from .postgres import PostgresProcess
from .process import ManagedProcess, free_port
from .vault import OpenBaoProcess
from .vault_cluster import OpenBaoCluster, RaftNodeProcess

__all__ = ["BrokerTls", "ManagedProcess", "OpenBaoCluster", "OpenBaoProcess", "PostgresProcess", "RaftNodeProcess",
           "TansuProcess", "broker_tls", "free_port"]
