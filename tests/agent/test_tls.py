"""The agent answers only over mutual TLS, to clients holding a certificate of the controller's
CA, and proves it is the amphora the controller expects."""

from __future__ import annotations

import ssl

import pytest

from ostia.certificates.ca import LocalCA
from tests.agent.lab import AgentClient, Lab


def test_client_with_certificate_gets_octavia_version(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    assert agent.client.call("GET", "/") == (200, {"api_version": "1.0"})
    assert (agent.directory / "agent.pid").read_text().strip() == str(agent.process.pid)
    assert "listening on 10.241.0.11:9443" in agent.log()


def test_client_without_certificate_is_refused(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    anonymous = AgentClient(net.ns("ctl"), "10.241.0.11", agent.amphora_id, net.certs.ca_file, None)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        anonymous.call("GET", "/")


def test_certificate_of_another_ca_is_refused(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    stranger = LocalCA.create(common_name="Somebody else")
    cert = net.base / "stranger.pem"
    cert.write_bytes(stranger.issue_client_certificate().bundle)
    impostor = AgentClient(net.ns("ctl"), "10.241.0.11", agent.amphora_id, net.certs.ca_file, cert)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        impostor.call("GET", "/")
    # The agent still serves its controller.
    assert agent.client.call("GET", "/")[0] == 200


def test_server_name_is_the_amphora_id(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    wrong = AgentClient(
        net.ns("ctl"), "10.241.0.11", "another-amphora", net.certs.ca_file, net.certs.client
    )
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        wrong.call("GET", "/")
    assert agent.client.amphora_id != "another-amphora"
