"""A local certificate authority for dev and tests: a CA, a server certificate and one client
certificate per client identity. Production brings its own PKI (e.g. cert-manager)."""

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class CertFiles:
    cert: Path
    key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Consentry dev"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> CertFiles:
    folder.mkdir(parents=True, exist_ok=True)
    files = CertFiles(folder / f"{stem}.crt", folder / f"{stem}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    files.key.chmod(0o600)
    return files


class DevCA:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Consentry dev CA")).issuer_name(_name("Consentry dev CA"))
            .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca = _write(folder, "ca", self._cert, self._key)
        self._issued: dict[tuple[str, x509.ObjectIdentifier], CertFiles] = {}

    def _issue(self, cn: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> CertFiles:
        """Once per name and use: asked again, the same files, left untouched. A service watches its
        own certificate files and takes a rewrite for a renewal (it restarts itself, see tls_files)."""
        issued = self._issued.get((cn, usage))
        if issued is not None and issued.cert.exists() and issued.key.exists():
            return issued
        self._issued[(cn, usage)] = files = self._signed(cn, usage, sans)
        return files

    def _signed(self, cn: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> CertFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn)).issuer_name(self._cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return _write(self.folder, cn, builder.sign(self._key, hashes.SHA256()), key)

    def issue_server(self, cn: str = "localhost") -> CertFiles:
        sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        return self._issue(cn, ExtendedKeyUsageOID.SERVER_AUTH, sans)

    def issue_client(self, client_id: str) -> CertFiles:
        return self._issue(client_id, ExtendedKeyUsageOID.CLIENT_AUTH, [])
