"""Channels opened the way a face system opens them: the library's own `connect` with a client
certificate from the session's CA: one identity, known to both consent and keyvault."""

import pytest

from consentry_client import connect

FACE_SYSTEM = "face-app"


@pytest.fixture(scope="session")
async def consent_channel(consent_app, dev_ca):
    files = dev_ca.issue_client(FACE_SYSTEM)
    channel = connect(f"localhost:{consent_app.port}", dev_ca.ca.cert, files.cert, files.key)
    yield channel
    await channel.close()


@pytest.fixture(scope="session")
async def keyvault_channel(keyvault_app, dev_ca):
    files = dev_ca.issue_client(FACE_SYSTEM)
    channel = connect(f"localhost:{keyvault_app.port}", dev_ca.ca.cert, files.cert, files.key)
    yield channel
    await channel.close()
