"""A local certificate authority for the management plane.

It signs each amphora agent's server certificate (CN and DNS name = the amphora id, which the
controller checks as the server name, plus the management address) and the controller's client
certificate, which every agent requires. The CA key and certificate live in one directory as
``ca.key`` and ``ca.pem`` (mode 0600); several controllers on one machine may share it.
"""

from __future__ import annotations

import datetime
import fcntl
import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY_FILE = "ca.key"
CA_CERT_FILE = "ca.pem"
DEFAULT_CA_VALIDITY = datetime.timedelta(days=3650)
# Octavia's [certificates] cert_validity_time default (2592000 s).
DEFAULT_CERT_VALIDITY = datetime.timedelta(days=30)
# Tolerated clock skew between the controller and an amphora.
BACKDATE = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key, both PEM."""

    certificate: bytes
    private_key: bytes

    @property
    def bundle(self) -> bytes:
        """Certificate then key in one PEM, the form of ``server.pem`` and ``client.pem``."""
        return self.certificate + self.private_key


def expiration(pem: bytes) -> datetime.datetime:
    """When the (first) certificate of a PEM expires, in UTC."""
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.replace(tmp, path)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class LocalCA:
    """Signs management-plane certificates with a key kept in a local directory."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> None:
        self._key = key
        self._certificate = certificate

    @classmethod
    def load_or_create(
        cls,
        directory: Path,
        *,
        common_name: str = "Ostia management CA",
        validity: datetime.timedelta = DEFAULT_CA_VALIDITY,
    ) -> LocalCA:
        """The CA kept in ``directory``, created there on first use."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_path, cert_path = directory / CA_KEY_FILE, directory / CA_CERT_FILE
        with _locked(directory):
            if key_path.exists() and cert_path.exists():
                key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
                if not isinstance(key, ec.EllipticCurvePrivateKey):
                    raise ValueError(f"{key_path} is not an EC private key")
                return cls(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))
            ca = cls.create(common_name=common_name, validity=validity)
            _write_private(key_path, _key_pem(ca._key))
            _write_private(cert_path, ca.certificate_pem)
            return ca

    @classmethod
    def create(
        cls,
        *,
        common_name: str = "Ostia management CA",
        validity: datetime.timedelta = DEFAULT_CA_VALIDITY,
    ) -> LocalCA:
        """A new CA held in memory only."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, certificate)

    @property
    def certificate_pem(self) -> bytes:
        return self._certificate.public_bytes(serialization.Encoding.PEM)

    def issue_server_certificate(
        self,
        amphora_id: str,
        management_ip: str | None = None,
        *,
        validity: datetime.timedelta = DEFAULT_CERT_VALIDITY,
    ) -> IssuedCertificate:
        """An amphora agent's certificate: CN and DNS name = the amphora id."""
        names: list[x509.GeneralName] = [x509.DNSName(amphora_id)]
        if management_ip:
            names.append(x509.IPAddress(ipaddress.ip_address(management_ip)))
        return self._issue(amphora_id, names, ExtendedKeyUsageOID.SERVER_AUTH, validity)

    def issue_client_certificate(
        self,
        common_name: str = "ostia-controller",
        *,
        validity: datetime.timedelta = DEFAULT_CERT_VALIDITY,
    ) -> IssuedCertificate:
        """The controller's certificate for calling the agents."""
        return self._issue(common_name, [], ExtendedKeyUsageOID.CLIENT_AUTH, validity)

    def _issue(
        self,
        common_name: str,
        names: list[x509.GeneralName],
        usage: x509.ObjectIdentifier,
        validity: datetime.timedelta,
    ) -> IssuedCertificate:
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(min(now + validity, self._certificate.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=True,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), False
            )
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return IssuedCertificate(
            certificate=certificate.public_bytes(serialization.Encoding.PEM),
            private_key=_key_pem(key),
        )
