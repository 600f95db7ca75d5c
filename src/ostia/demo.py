"""``ostia demo``: start the embedded service and show a load balancer's life through the API.

It logs in to Ostia's identity service as the admin it bootstrapped, creates the networks
of the Create Load Balancer wizard's example (``lb-vip-subnet`` and ``web-server-subnet``),
creates the example in one call (listener HTTP 8080, pool ROUND_ROBIN, members 192.168.1.14
and 192.168.1.6 on port 80, a PING health monitor), follows it from PENDING_CREATE to
ACTIVE, changes it, and deletes it, printing each step and its timing. The controller runs
the noop data plane: no address is configured anywhere on this machine.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from ostia.config import Settings
from ostia.db import migrate
from ostia.identity.firstrun import ADMIN_PROJECT, ADMIN_USER, CLOUD_NAME, ensure_admin
from ostia.runtime import Runtime

VIP_CIDR = "10.240.1.0/24"  # lb-vip-subnet
MEMBER_CIDR = "192.168.1.0/24"  # web-server-subnet, as in the wizard's example


class Demo:
    def __init__(self, base_url: str, password: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.password = password
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.3f}s] {message}", flush=True)

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, path, json=body)
        if response.status_code != expect:
            raise RuntimeError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def wait_active(self, lb_id: str) -> float:
        began = time.monotonic()
        while True:
            lb = self.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"]
            if lb["provisioning_status"] == "ACTIVE":
                return time.monotonic() - began
            if lb["provisioning_status"] == "ERROR":
                raise RuntimeError(f"load balancer {lb_id} went to ERROR")
            time.sleep(0.005)

    def log_in(self) -> None:
        credentials = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": ADMIN_USER,
                            "domain": {"name": "Default"},
                            "password": self.password,
                        }
                    },
                },
                "scope": {"project": {"name": ADMIN_PROJECT, "domain": {"name": "Default"}}},
            }
        }
        response = self.http.post("/identity/v3/auth/tokens", json=credentials)
        if response.status_code != 201:
            raise RuntimeError(f"login failed: {response.status_code} {response.text}")
        self.http.headers["X-Auth-Token"] = response.headers["X-Subject-Token"]
        roles = ", ".join(r["name"] for r in response.json()["token"]["roles"])
        self.say(f"logged in to /identity/v3 as {ADMIN_USER} (roles: {roles})")

    def subnet(self, network_id: str, name: str, cidr: str) -> str:
        body = {"subnet": {"network_id": network_id, "name": name, "cidr": cidr, "ip_version": 4}}
        subnet = self.call("POST", "/network/v2.0/subnets", body, expect=201)["subnet"]
        self.say(f"subnet {name} {cidr} (gateway {subnet['gateway_ip']})")
        return str(subnet["id"])

    def run(self, keep: bool) -> None:
        versions = self.call("GET", "/")["versions"]
        self.say(f"API answers; current version {versions[-1]['id']}")
        self.log_in()
        network = self.call(
            "POST", "/network/v2.0/networks", {"network": {"name": "demo-net"}}, expect=201
        )["network"]
        vip_subnet = self.subnet(network["id"], "lb-vip-subnet", VIP_CIDR)
        member_subnet = self.subnet(network["id"], "web-server-subnet", MEMBER_CIDR)
        body = {
            "loadbalancer": {
                "name": "lb1",
                "vip_subnet_id": vip_subnet,
                "listeners": [
                    {
                        "name": "Listener-1",
                        "protocol": "HTTP",
                        "protocol_port": 8080,
                        "default_pool": {"name": "Pool-1"},
                    }
                ],
                "pools": [
                    {
                        "name": "Pool-1",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "members": [
                            {"address": a, "protocol_port": 80, "subnet_id": member_subnet}
                            for a in ("192.168.1.14", "192.168.1.6")
                        ],
                        "healthmonitor": {
                            "type": "PING",
                            "delay": 5,
                            "max_retries": 3,
                            "timeout": 5,
                        },
                    }
                ],
            }
        }
        began = time.monotonic()
        lb = self.call("POST", "/v2/lbaas/loadbalancers", body, expect=201)["loadbalancer"]
        answered = time.monotonic() - began
        self.say(
            f"POST /v2/lbaas/loadbalancers answered 201 in {answered * 1000:.1f} ms: "
            f"{lb['name']} {lb['id']} {lb['provisioning_status']}/{lb['operating_status']}, "
            f"VIP {lb['vip_address']}, provider {lb['provider']}"
        )
        took = self.wait_active(lb["id"])
        self.say(f"{lb['name']} is ACTIVE {took * 1000:.1f} ms after the create answered")
        tree = self.call("GET", f"/v2/lbaas/loadbalancers/{lb['id']}/status")["statuses"]
        for listener in tree["loadbalancer"]["listeners"]:
            for pool in listener["pools"]:
                members = ", ".join(f"{m['address']}:{m['protocol_port']}" for m in pool["members"])
                self.say(
                    f"  {listener['name']} -> {pool['name']} ({pool['provisioning_status']}): "
                    f"{members}; monitor {pool['health_monitor']['type']}"
                )
        pool_id = lb["pools"][0]["id"]
        began = time.monotonic()
        member = self.call(
            "POST",
            f"/v2/lbaas/pools/{pool_id}/members",
            {"member": {"address": "192.168.1.20", "protocol_port": 80, "weight": 2}},
            expect=201,
        )["member"]
        self.say(f"added member 192.168.1.20 ({member['provisioning_status']})")
        blocked = self.http.put(
            f"/v2/lbaas/loadbalancers/{lb['id']}", json={"loadbalancer": {"name": "x"}}
        )
        if blocked.status_code == 409:
            self.say(f"  a change while it settles is refused: 409 {blocked.json()['faultstring']}")
        self.wait_active(lb["id"])
        self.say(f"  ACTIVE again {(time.monotonic() - began) * 1000:.1f} ms after the change")
        if keep:
            self.say(f"keeping {lb['name']}")
            return
        self.call("DELETE", f"/v2/lbaas/loadbalancers/{lb['id']}?cascade=true", expect=204)
        self.say("DELETE ?cascade=true answered 204")
        while self.http.get(f"/v2/lbaas/loadbalancers/{lb['id']}").status_code != 404:
            time.sleep(0.005)
        self.say(f"{lb['name']} and everything under it are gone")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


def run_demo(settings: Settings, keep: bool) -> int:
    host, port = settings.api.bind_host, settings.api.bind_port
    if not _port_free(host, port):
        print(f"ostia demo: {host}:{port} is in use; pass --port to choose another.")
        return 2
    scratch = tempfile.TemporaryDirectory(prefix="ostia-demo-")
    settings = settings.model_copy(
        update={
            "data_dir": Path(scratch.name),
            "database": settings.database.model_copy(update={"url": ""}),
            "api": settings.api.model_copy(update={"auth_strategy": "keystone"}),
            "networking": settings.networking.model_copy(update={"mode": "managed"}),
            "identity": settings.identity.model_copy(
                update={"public_url": f"http://{host}:{port}", "external_url": ""}
            ),
        }
    )
    print(f"Starting Ostia (API and controller in one process, database {settings.database_url})")
    migrate.upgrade(settings.database_url)
    runtime = Runtime.open(settings)
    access = ensure_admin(runtime.db, settings)
    assert access.password is not None, "a new data directory has no admin yet"
    controller = runtime.controller()
    controller.start()
    server = uvicorn.Server(
        uvicorn.Config(runtime.api(), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    base = f"http://{host}:{port}"
    print(f"Ostia is serving the Octavia v2 API on {base}/")
    try:
        Demo(base, access.password).run(keep)
        if keep:
            print(
                f"Serving until Ctrl-C. The openstack CLI: export "
                f"OS_CLIENT_CONFIG_FILE={access.clouds_yaml} OS_CLOUD={CLOUD_NAME}"
            )
            thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join()
        controller.stop()
        runtime.close()
        scratch.cleanup()
    return 0
