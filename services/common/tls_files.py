"""Certificates that change under a running service. cert-manager renews every certificate before it
expires and Kubernetes swaps the Secret's files in place (all at once), so a service that read them
once would, a month later, serve an expired certificate.

The gRPC server reads its files again at the first handshake after they changed: new connections
get the new certificate and the new CA; a key that does not match its certificate (files caught
mid-copy) is not taken, the previous pair goes on serving. A gRPC channel's credentials cannot be
changed, so a service whose own client certificate changed restarts: it stops gracefully at a random
moment within a bound, so its replicas do not all restart at once (the renewed certificate comes ten
days before the old one expires), and Kubernetes starts it again with the new files."""

import asyncio
import os
import random
import signal
from collections.abc import Callable
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from services.common.logging import get_logger

log = get_logger(__name__)
POLL_S = 30.0


def stamp(files: tuple[Path, ...]) -> tuple:
    """What changes when any of the files is replaced (a Secret's swap changes the inode behind the link)."""
    def one(path: Path) -> tuple:
        try:
            st = path.stat()
        except OSError:
            return (path, None)
        return (path, st.st_ino, st.st_mtime_ns, st.st_size)
    return tuple(one(p) for p in files)


def _pair_matches(key_pem: bytes, cert_pem: bytes) -> bool:
    key = serialization.load_pem_private_key(key_pem, password=None)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    return (key.public_key().public_bytes(serialization.Encoding.DER, public)
            == x509.load_pem_x509_certificate(cert_pem).public_key().public_bytes(serialization.Encoding.DER, public))


def reloading_server_credentials(key: Path, cert: Path, client_ca: Path) -> grpc.ServerCredentials:
    """mTLS server credentials that follow the files (clients must show a certificate of the CA)."""
    files = (key, cert, client_ca)
    seen, refused = [stamp(files)], [None]

    def configuration():
        key_pem, cert_pem, ca_pem = (f.read_bytes() for f in files)
        if not _pair_matches(key_pem, cert_pem):
            raise ValueError(f"{key} is not the key of {cert}")
        return grpc.ssl_server_certificate_configuration([(key_pem, cert_pem)], root_certificates=ca_pem)

    def fetch():  # by gRPC, before each new connection's handshake: None keeps what it has
        now = stamp(files)
        if now == seen[0]:
            return None
        try:
            fresh = configuration()
        except (OSError, ValueError) as error:  # mid-update: keep the old pair, look again next time
            if refused[0] != now:  # said once per state of the files, not at every handshake
                refused[0] = now
                log.warning("new TLS files not taken yet", error=str(error)[:200])
            return None
        seen[0] = now
        log.info("TLS files reloaded", cert=str(cert))
        return fresh

    return grpc.dynamic_ssl_server_credentials(configuration(), fetch, require_client_authentication=True)


async def restart_when_changed(files: tuple[Path, ...], first: tuple, within_s: float,
                               restart: Callable[[], None] = lambda: os.kill(os.getpid(), signal.SIGTERM),
                               poll_s: float = POLL_S) -> None:
    """Runs until `files` differ from their `first` stamp (taken before they were read), then asks
    for a graceful stop within `within_s` (at random)."""
    while stamp(files) == first:  # noqa: ASYNC110 - a file changing has no event to wait on
        await asyncio.sleep(poll_s)
    delay = random.uniform(0, within_s)
    log.info("client certificate changed: restarting", in_s=round(delay))
    await asyncio.sleep(delay)
    restart()
