"""`python -m bench.dsr.plain_gate serve`: the reference face gate (`python -m examples.face_gate serve`)
on a plaintext broker, for the plaintext side of the dsr section's Kafka comparison only.

The gate reaches Kafka through consentry_client.kafka_options, which is always TLS with the gate's
credential: a face system proves who it is to the broker, and the library offers no way round it.
Here that one function, as the gate's module imported it, gives the same broker address with
security_protocol PLAINTEXT; everything else (registration, ConfirmTasks, the journal, the database,
the gRPC channels with the gate's certificate) is the gate's own code.
"""

from __future__ import annotations

import examples.face_gate.__main__ as face_gate


def plaintext_options(bootstrap_servers: str, **_credentials: object) -> dict:
    return {"bootstrap_servers": bootstrap_servers, "security_protocol": "PLAINTEXT"}


if __name__ == "__main__":
    face_gate.kafka_options = plaintext_options
    raise SystemExit(face_gate.main())
