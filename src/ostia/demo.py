"""``ostia demo``: start the embedded service and show a load balancer's life through the API.

It creates the Create Load Balancer wizard's example in one call (listener HTTP 8080, pool
ROUND_ROBIN, members 192.168.1.14 and 192.168.1.6 on port 80, a PING health monitor),
follows it from PENDING_CREATE to ACTIVE, changes it, and deletes it, printing each step
and its timing. The controller runs the noop data plane: no address is configured anywhere.
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
from ostia.runtime import Runtime

PROJECT = "demo-project"
HEADERS = {"X-Project-Id": PROJECT, "X-User-Id": "demo", "X-Roles": "member"}
VIP_SUBNET = "7f3e3c2a-6a47-4f9e-9f43-2c3a1f0d5b10"  # "lb-vip-subnet"
MEMBER_SUBNET = "0c4d2f7e-1b8a-4e55-9c61-8d2a7b3e4f90"  # "web-server-subnet"


class Demo:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers=HEADERS, timeout=10)
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

    def run(self, keep: bool) -> None:
        versions = self.call("GET", "/")["versions"]
        self.say(f"API answers; current version {versions[-1]['id']}")
        body = {
            "loadbalancer": {
                "name": "lb1",
                "vip_subnet_id": VIP_SUBNET,
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
                            {"address": a, "protocol_port": 80, "subnet_id": MEMBER_SUBNET}
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
            self.say(
                f"keeping {lb['name']}; try: curl -H 'X-Project-Id: {PROJECT}' "
                f"{self.http.base_url}v2/lbaas/loadbalancers"
            )
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
    scratch = None
    if not keep and not settings.database.url:
        scratch = tempfile.TemporaryDirectory(prefix="ostia-demo-")
        settings.data_dir = Path(scratch.name)
    print(f"Starting Ostia (API and controller in one process, database {settings.database_url})")
    migrate.upgrade(settings.database_url)
    runtime = Runtime.open(settings)
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
        Demo(base).run(keep)
        if keep:
            print("Serving until Ctrl-C.")
            thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join()
        controller.stop()
        runtime.close()
        if scratch is not None:
            scratch.cleanup()
    return 0
