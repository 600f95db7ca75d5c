"""``PUT /1.0/certificate``: the agent takes a new server certificate without restarting, for new
connections at once while open ones carry on, and refuses one its controller would not accept,
keeping the one it has."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable

import pytest
from cryptography import x509

from ostia.certificates.ca import LocalCA
from tests.agent.lab import AgentProcess, Lab

MGMT_IP = "10.241.0.11"


def served(agent: AgentProcess) -> x509.Certificate:
    """The certificate a new connection to the agent is shown."""
    return x509.load_der_x509_certificate(agent.client.server_certificate())


def get_info(connection: http.client.HTTPConnection) -> dict[str, str]:
    """``GET /1.0/info`` on an open (kept-alive) connection."""
    connection.request("GET", "/1.0/info")
    response = connection.getresponse()
    assert response.status == 200
    return dict(json.loads(response.read()))


def test_new_certificate_serves_new_connections_and_open_ones_carry_on(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    before = served(agent)
    # A connection opened before the rotation, kept alive across it.
    tls = agent.client._connect(10.0)
    kept = http.client.HTTPConnection(MGMT_IP, 9443)
    kept.sock = tls
    assert get_info(kept)["hostname"] == f"amphora-{agent.amphora_id}"

    renewed = net.certs.ca.issue_server_certificate(agent.amphora_id, MGMT_IP)
    assert agent.client.call("PUT", "/1.0/certificate", renewed.bundle) == (202, {"message": "OK"})

    after = served(agent)
    assert after == x509.load_pem_x509_certificate(renewed.certificate)
    assert after.serial_number != before.serial_number
    assert (agent.directory / "server.pem").read_bytes() == renewed.bundle
    assert not (agent.directory / "server.pem.new").exists()
    # The open connection still works, on the certificate it was opened with.
    assert get_info(kept)["hostname"] == f"amphora-{agent.amphora_id}"
    peer = tls.getpeercert(binary_form=True)
    assert peer is not None
    assert x509.load_der_x509_certificate(peer).serial_number == before.serial_number
    kept.close()
    # Same process: no restart.
    assert agent.process.poll() is None
    assert agent.pid_of("agent.pid") == agent.process.pid


def another_amphora(ca: LocalCA, amphora_id: str) -> bytes:
    return ca.issue_server_certificate("not-this-one", MGMT_IP).bundle


def another_ca(ca: LocalCA, amphora_id: str) -> bytes:
    return LocalCA.create().issue_server_certificate(amphora_id, MGMT_IP).bundle


def key_of_another(ca: LocalCA, amphora_id: str) -> bytes:
    first = ca.issue_server_certificate(amphora_id, MGMT_IP)
    return first.certificate + ca.issue_server_certificate(amphora_id, MGMT_IP).private_key


def client_certificate(ca: LocalCA, amphora_id: str) -> bytes:
    return ca.issue_client_certificate(amphora_id).bundle


def not_pem(ca: LocalCA, amphora_id: str) -> bytes:
    return b"not a certificate"


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (another_amphora, "Hostname mismatch"),
        (another_ca, "unable to get local issuer certificate"),
        (key_of_another, "the private key does not match the certificate"),
        (client_certificate, "unsuitable certificate purpose"),
        (not_pem, "expected a certificate and its private key in PEM form"),
    ],
)
def test_refused_certificate_leaves_the_current_one(
    net: Lab, candidate: Callable[[LocalCA, str], bytes], reason: str
) -> None:
    agent = net.amphora("a1", 1)
    before = served(agent)
    current = (agent.directory / "server.pem").read_bytes()

    body = candidate(net.certs.ca, agent.amphora_id)
    status, answer = agent.client.call("PUT", "/1.0/certificate", body)

    assert (status, answer["message"]) == (400, "Invalid certificate")
    assert reason in answer["details"], answer
    assert served(agent).serial_number == before.serial_number
    assert (agent.directory / "server.pem").read_bytes() == current
    assert not (agent.directory / "server.pem.new").exists()
    assert agent.client.call("GET", "/")[0] == 200
