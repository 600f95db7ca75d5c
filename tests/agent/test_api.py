"""The agent's routes beyond HAProxy and the network: listener certificates, its configuration,
and Octavia's error bodies (its own server certificate: test_server_certificate.py)."""

from __future__ import annotations

import hashlib
import json
import uuid

from tests.agent.lab import Lab, haproxy_config


def test_unknown_routes_and_methods_answer_like_octavia(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    status, body = agent.client.call("GET", "/1.0/nothing")
    assert status == 404 and body["http_code"] == 404
    assert body["error"].startswith("404 Not Found: The requested URL was not found")
    status, headers, data = agent.client.request("DELETE", "/")
    assert status == 405 and headers["Allow"] == "GET"
    assert json.loads(data) == {
        "error": "405 Method Not Allowed: The method is not allowed for the requested URL.",
        "http_code": 405,
    }


def test_listener_certificates(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    lb_id = str(uuid.uuid4())
    path = f"/1.0/loadbalancer/{lb_id}/certificates/tls-listener.pem"
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    md5 = hashlib.md5(pem).hexdigest()

    status, headers, data = agent.client.request("PUT", path, pem)
    assert (status, json.loads(data), headers["ETag"]) == (200, {"message": "OK"}, md5)
    stored = agent.directory / "certs" / "tls-listener.pem"
    assert stored.read_bytes() == pem and stored.stat().st_mode & 0o777 == 0o600
    assert agent.client.call("GET", path) == (200, {"md5sum": md5})

    assert agent.client.call("DELETE", path) == (200, {"message": "OK"})
    assert agent.client.call("GET", path) == (
        404,
        {
            "message": "Certificate Not Found",
            "details": "No certificate with filename: tls-listener.pem",
        },
    )
    bad = f"/1.0/loadbalancer/{lb_id}/certificates/..pem"
    assert agent.client.call("PUT", bad, pem) == (400, {"message": "Filename has wrong format"})


def test_haproxy_routes_refuse_what_does_not_fit(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    lb_id, other_lb = str(uuid.uuid4()), str(uuid.uuid4())
    config = haproxy_config(agent, {"m1": "10.241.2.21"})
    status, body = agent.client.call(
        "PUT", f"/1.0/loadbalancer/{uuid.uuid4()}/{lb_id}/haproxy", config
    )
    assert (status, body) == (
        400,
        {"message": "Invalid request", "details": f"This is amphora {agent.amphora_id}"},
    )
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/start") == (
        404,
        {"message": "Loadbalancer Not Found", "details": f"No loadbalancer with UUID: {lb_id}"},
    )
    assert (
        agent.client.request(
            "PUT", f"/1.0/loadbalancer/{agent.amphora_id}/{lb_id}/haproxy", config
        )[0]
        == 202
    )
    status, body = agent.client.call(
        "PUT", f"/1.0/loadbalancer/{agent.amphora_id}/{other_lb}/haproxy", config
    )
    assert (status, body) == (
        409,
        {"message": "Invalid request", "details": f"This amphora serves loadbalancer {lb_id}"},
    )
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/restart") == (
        400,
        {"message": "Invalid Request", "details": "Unknown action: restart"},
    )
    assert agent.client.call("PUT", f"/1.0/loadbalancer/{lb_id}/runtime", []) == (
        409,
        {"message": "Invalid request", "details": "HAProxy is not running"},
    )


def test_agent_configuration_update(net: Lab) -> None:
    agent = net.amphora("a1", 1)
    path = agent.directory / "agent.json"
    before = path.read_text()
    assert agent.client.call("PUT", "/1.0/config", b'{"amphora_id": "x"}') == (
        500,
        {
            "message": "Unable to update amphora-agent configuration.",
            "details": "bind_host is required",
        },
    )
    assert path.read_text() == before
    assert agent.client.call("GET", "/1.0/details")[1]["topology"] == "SINGLE"
    new = {**json.loads(before), "restart_delay_max": 2, "topology": "ACTIVE_STANDBY"}
    assert agent.client.call("PUT", "/1.0/config", new) == (202, {"message": "OK"})
    assert json.loads(path.read_text()) == new
    # The topology applies at once: a spare amphora is told its load balancer's.
    assert agent.client.call("GET", "/1.0/details")[1]["topology"] == "ACTIVE_STANDBY"
