"""Checking a new server certificate before the agent presents it (``PUT /1.0/certificate``).

The candidate must be what the controller will accept, or the agent would lock its controller
out: a certificate and its matching private key, valid now, for a server whose name is this
amphora's id, signed by the CA the agent already trusts (``client_ca.pem``: Ostia's one CA signs
the agents' and the controller's certificates). The check is the controller's own: a TLS
handshake, in memory, between a server presenting the candidate and a client that trusts only
that CA and expects the amphora id as the server name.
"""

from __future__ import annotations

import ssl
from pathlib import Path

# A TLS handshake takes two round trips; a few more rounds cost nothing.
MAX_ROUNDS = 8


class CertificateRefused(ValueError):
    """The candidate would not be accepted; the message says why."""


def check(candidate: Path, trusted_ca: Path, amphora_id: str) -> None:
    """Raise CertificateRefused unless ``candidate`` (certificate then key, PEM) is a server
    certificate the controller accepts from amphora ``amphora_id``."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        server.load_cert_chain(candidate)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise CertificateRefused("the private key does not match the certificate") from None
        raise CertificateRefused(
            f"expected a certificate and its private key in PEM form: {exc}"
        ) from None
    client = ssl.create_default_context(cafile=str(trusted_ca))
    _handshake(client, server, amphora_id)


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext, server_name: str) -> None:
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(to_client, to_server, server_hostname=server_name)
    server_side = server.wrap_bio(to_server, to_client, server_side=True)
    done = {client_side: False, server_side: False}
    for _ in range(MAX_ROUNDS):
        for side in (client_side, server_side):
            if done[side]:
                continue
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                continue
            except ssl.SSLCertVerificationError as exc:
                raise CertificateRefused(f"certificate refused: {exc.verify_message}") from None
            except ssl.SSLError as exc:
                raise CertificateRefused(f"TLS handshake failed: {exc}") from None
            done[side] = True
        if done[client_side]:  # the client has checked and accepted the certificate
            return
    raise CertificateRefused("the TLS handshake did not complete")
