"""The controller's agent client against an amphora the controller built: the agent's errors
come back with what HAProxy said, and only the amphora named is accepted at its address."""

from __future__ import annotations

import time
import uuid

import pytest

from ostia.amphora.client import AgentClient, AgentError, AgentUnreachable, ClientCredentials
from ostia.certificates.ca import LocalCA
from tests.dataplane.conftest import Site
from tests.dataplane.lbs import LBS, amphorae, settle, subnets
from tests.helpers import expect


def test_agent_errors_and_server_name(site: Site) -> None:
    vip_subnet, _ = subnets(site.api)
    body = {"loadbalancer": {"vip_subnet_id": vip_subnet["id"]}}
    lb_id = expect(site.api.post(LBS, body), 201)["loadbalancer"]["id"]
    settle(site, lb_id)
    (amphora,) = amphorae(site, lb_id)
    assert amphora.lb_network_ip
    credentials = ClientCredentials(LocalCA.load_or_create(site.settings.data_dir / "ca"))

    def client(amphora_id: str, address: str, **options: float) -> AgentClient:
        namespace = site.fabric.controller_namespace
        return AgentClient(
            amphora_id, address, tls=credentials.context, namespace=namespace, **options
        )

    agent = client(amphora.id, amphora.lb_network_ip)
    assert agent.details()["topology"] == "SINGLE"
    running = agent.get_haproxy(lb_id)
    assert running is not None and f"load balancer {lb_id}" in running

    with pytest.raises(AgentError) as refused:
        agent.upload_haproxy(lb_id, running + "    no-such-keyword\n")
    assert (refused.value.status, refused.value.message) == (400, "Invalid request")
    assert "'no-such-keyword'" in str(refused.value.details)
    assert agent.get_haproxy(lb_id) == running

    impostor = client(str(uuid.uuid4()), amphora.lb_network_ip)
    started = time.monotonic()
    with pytest.raises(AgentError) as mismatch:
        impostor.details()
    assert "certificate verify failed" in str(mismatch.value)
    assert time.monotonic() - started < 5, "a wrong certificate is not retried"

    nobody = client(amphora.id, "10.243.0.250", connect_timeout=0.2, retry_for=0.5)
    with pytest.raises(AgentUnreachable) as unreachable:
        nobody.details()
    assert "no connection to 10.243.0.250:9443 within 0.5 s" in str(unreachable.value)
