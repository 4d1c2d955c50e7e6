"""Real infrastructure processes (PostgreSQL, Kafka-compatible broker, OpenBao) on free loopback ports.

Used by the dev command and the test-suite so both exercise the same binaries
that production-like setups talk to, rather than fakes.
"""

from .kafka import TansuProcess
from .postgres import PostgresProcess
from .process import ManagedProcess, free_port
from .vault import OpenBaoProcess

__all__ = ["ManagedProcess", "OpenBaoProcess", "PostgresProcess", "TansuProcess", "free_port"]
