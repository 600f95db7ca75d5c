"""The local CA: kept in its directory (0600), signing amphora server certificates (CN and DNS
name = amphora id, IP = management address) and the controller's client certificate, both
accepted by TLS the way the agent and its client check them."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ostia.certificates.ca import LocalCA, expiration

AMPHORA_ID = "6b7f7c1e-7a52-4b1c-9f0e-2f5d6c1a9b31"


def test_created_once_then_loaded(tmp_path: Path) -> None:
    directory = tmp_path / "ca"
    first = LocalCA.load_or_create(directory)
    assert {p.name for p in directory.iterdir()} >= {"ca.key", "ca.pem"}
    for name in ("ca.key", "ca.pem"):
        assert (directory / name).stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o700
    again = LocalCA.load_or_create(directory)
    assert again.certificate_pem == first.certificate_pem
    ca = x509.load_pem_x509_certificate(first.certificate_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_server_certificate_names_the_amphora(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path)
    issued = ca.issue_server_certificate(AMPHORA_ID, "10.241.0.11")
    cert = x509.load_pem_x509_certificate(issued.certificate)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == AMPHORA_ID
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [AMPHORA_ID]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.241.0.11")]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.certificate_pem))
    assert issued.bundle == issued.certificate + issued.private_key


def test_validity_is_configurable_and_expiration_reads_it(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path)
    now = datetime.datetime.now(datetime.UTC)
    default = ca.issue_server_certificate(AMPHORA_ID)
    short = ca.issue_client_certificate(validity=datetime.timedelta(hours=2))
    assert abs(
        expiration(default.bundle) - (now + datetime.timedelta(days=30))
    ) < datetime.timedelta(minutes=1)
    assert abs(
        expiration(short.certificate) - (now + datetime.timedelta(hours=2))
    ) < datetime.timedelta(minutes=1)
    # Never beyond the CA's own end.
    brief_ca = LocalCA.create(validity=datetime.timedelta(days=1))
    long = brief_ca.issue_server_certificate(AMPHORA_ID, validity=datetime.timedelta(days=365))
    assert expiration(long.certificate) == expiration(brief_ca.certificate_pem)


def _handshake(
    tmp_path: Path, ca: LocalCA, server_ca: LocalCA, client_ca: LocalCA, server_name: str
) -> None:
    """A TLS handshake on 127.0.0.1: the agent's side and Octavia's client side."""
    server_pem, client_pem, ca_file = tmp_path / "s.pem", tmp_path / "c.pem", tmp_path / "ca.pem"
    server_pem.write_bytes(server_ca.issue_server_certificate(AMPHORA_ID, "127.0.0.1").bundle)
    client_pem.write_bytes(client_ca.issue_client_certificate().bundle)
    ca_file.write_bytes(ca.certificate_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.verify_mode = ssl.CERT_REQUIRED
    server_context.load_cert_chain(server_pem)
    server_context.load_verify_locations(ca_file)
    client_context = ssl.create_default_context(cafile=str(ca_file))
    client_context.load_cert_chain(client_pem)

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        errors: list[Exception] = []

        def serve() -> None:
            conn, _ = listener.accept()
            try:
                with server_context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError) as exc:
                errors.append(exc)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                with client_context.wrap_socket(sock, server_hostname=server_name) as tls:
                    tls.sendall(b"x")
                    tls.recv(1)
        finally:
            thread.join(5)
        if errors:
            raise errors[0]


def test_certificates_work_for_mutual_tls(tmp_path: Path) -> None:
    ca = LocalCA.load_or_create(tmp_path / "ca")
    _handshake(tmp_path, ca, ca, ca, AMPHORA_ID)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        _handshake(tmp_path, ca, ca, ca, "another-amphora")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(tmp_path, ca, LocalCA.create(), ca, AMPHORA_ID)
