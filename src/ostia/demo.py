"""``ostia demo``: the embedded service running a real ACTIVE_STANDBY load balancer.

It starts API and controller in one process (keystone, Ostia's own networks, real amphorae:
network namespaces with the agent, HAProxy and keepalived), logs in as the admin it
bootstrapped, creates the networks of the Create Load Balancer wizard's example
(``lb-vip-subnet``, ``web-server-subnet``) and two web servers at 192.168.1.14 and
192.168.1.6, each in its own namespace, then an ACTIVE_STANDBY load balancer with an HTTP
listener on 8080, a ROUND_ROBIN pool with the two members and an HTTP health monitor. It sends
requests through the VIP from a client namespace, kills the MASTER amphora's processes while
a client keeps sending, and prints what the client saw and how long the takeover took; then,
through the amphora API, the controller replacing the silent amphora until the pair is whole
again, with the time from the kill.
Everything lives in namespaces named ``demo<random>-…``; nothing is configured in the root
namespace, and everything is removed at the end (``--keep`` keeps it until Ctrl-C).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select

from ostia.config import Settings
from ostia.db import migrate
from ostia.db.models import Amphora
from ostia.drivers.fabric import Fabric
from ostia.drivers.netns import ip_json, namespace_pids, stop_processes
from ostia.hosts import Host, Traffic, WebServer, add_host, http_get
from ostia.identity.firstrun import ADMIN_PROJECT, ADMIN_USER, CLOUD_NAME, ensure_admin
from ostia.runtime import Runtime

VIP_CIDR = "10.240.1.0/24"  # lb-vip-subnet
MEMBER_CIDR = "192.168.1.0/24"  # web-server-subnet, as in the wizard's example
MEMBERS = (("web1", "192.168.1.14"), ("web2", "192.168.1.6"))
LISTENER_PORT = 8080
MEMBER_PORT = 80
WAIT = 60.0
# Spare amphorae the demo keeps booted (unless [house_keeping] spare_amphora_pool_size says
# more): its ACTIVE_STANDBY pair, then the replacement of the killed MASTER, claim them.
DEMO_SPARES = 2


class DemoError(RuntimeError):
    pass


class Demo:
    def __init__(self, base_url: str, password: str, runtime: Runtime, fabric: Fabric) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.password = password
        self.runtime = runtime
        self.fabric = fabric
        self.servers: list[WebServer] = []
        self.started = time.monotonic()

    # -- talking to the API -----------------------------------------------------------------

    def say(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:7.3f}s] {message}", flush=True)

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.request(method, path, json=body)
        if response.status_code != expect:
            raise DemoError(f"{method} {path} answered {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def wait_active(self, lb_id: str) -> float:
        began = time.monotonic()
        while time.monotonic() - began < WAIT:
            lb = self.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"]
            if lb["provisioning_status"] == "ACTIVE":
                return time.monotonic() - began
            if lb["provisioning_status"] == "ERROR":
                raise DemoError(f"load balancer {lb_id} went to ERROR: {lb['fault']}")
            time.sleep(0.02)
        raise DemoError(f"load balancer {lb_id} was not ACTIVE after {WAIT:g} s")

    def log_in(self) -> None:
        user = {"name": ADMIN_USER, "domain": {"name": "Default"}, "password": self.password}
        credentials = {
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": {"name": ADMIN_PROJECT, "domain": {"name": "Default"}}},
            }
        }
        response = self.http.post("/identity/v3/auth/tokens", json=credentials)
        if response.status_code != 201:
            raise DemoError(f"login failed: {response.status_code} {response.text}")
        self.http.headers["X-Auth-Token"] = response.headers["X-Subject-Token"]
        self.say(f"logged in to /identity/v3 as {ADMIN_USER}")

    def subnet(self, name: str, cidr: str) -> dict[str, Any]:
        network = self.call(
            "POST", "/network/v2.0/networks", {"network": {"name": f"{name}-net"}}, expect=201
        )["network"]
        body = {
            "subnet": {"network_id": network["id"], "name": name, "cidr": cidr, "ip_version": 4}
        }
        subnet: dict[str, Any] = self.call("POST", "/network/v2.0/subnets", body, expect=201)[
            "subnet"
        ]
        self.say(f"network {name}-net, subnet {name} {cidr}")
        return {**subnet, "mtu": network["mtu"]}

    def host(self, name: str, subnet: dict[str, Any], address: str | None = None) -> Host:
        fixed_ip: dict[str, str] = {"subnet_id": subnet["id"]}
        if address is not None:
            fixed_ip["ip_address"] = address
        body = {"port": {"network_id": subnet["network_id"], "name": name, "fixed_ips": [fixed_ip]}}
        port = self.call("POST", "/network/v2.0/ports", body, expect=201)["port"]
        return add_host(self.fabric, name, port, subnet["cidr"], subnet["mtu"])

    def wait_for_spares(self) -> None:
        """Until the spare pool is full (at most WAIT), as the admin amphora API lists it."""
        wanted = self.runtime.settings.house_keeping.spare_amphora_pool_size
        deadline = time.monotonic() + WAIT
        while True:
            listed = self.call("GET", "/v2/octavia/amphorae")["amphorae"]
            ready = [a["id"][:8] for a in listed if a["status"] == "READY"]
            if len(ready) >= wanted or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.say(
            f"{len(ready)} spare amphorae READY, booted in advance for the create to claim: "
            + " ".join(ready)
        )

    # -- the demonstration ------------------------------------------------------------------

    def run(self) -> tuple[str, Host, str]:
        """Build everything and show it working; returns (load balancer id, client, VIP)."""
        self.log_in()
        vip_subnet = self.subnet("lb-vip-subnet", VIP_CIDR)
        member_subnet = self.subnet("web-server-subnet", MEMBER_CIDR)
        for name, address in MEMBERS:
            web = self.host(name, member_subnet, address)
            self.servers.append(WebServer(web, MEMBER_PORT, name))
            self.say(f"web server {name} at {address}:{MEMBER_PORT} (namespace {web.namespace})")
        client = self.host("client", vip_subnet)
        self.say(f"client at {client.address} (namespace {client.namespace})")
        self.wait_for_spares()

        profile = self.call(
            "POST",
            "/v2/lbaas/flavorprofiles",
            {
                "flavorprofile": {
                    "name": "active-standby",
                    "provider_name": "amphora",
                    "flavor_data": '{"loadbalancer_topology": "ACTIVE_STANDBY"}',
                }
            },
            expect=201,
        )["flavorprofile"]
        flavor = self.call(
            "POST",
            "/v2/lbaas/flavors",
            {"flavor": {"name": "ha", "flavor_profile_id": profile["id"]}},
            expect=201,
        )["flavor"]
        body = {
            "loadbalancer": {
                "name": "lb1",
                "vip_subnet_id": vip_subnet["id"],
                "flavor_id": flavor["id"],
                "listeners": [
                    {
                        "name": "Listener-1",
                        "protocol": "HTTP",
                        "protocol_port": LISTENER_PORT,
                        "default_pool": {"name": "Pool-1"},
                    }
                ],
                "pools": [
                    {
                        "name": "Pool-1",
                        "protocol": "HTTP",
                        "lb_algorithm": "ROUND_ROBIN",
                        "members": [
                            {
                                "address": address,
                                "protocol_port": MEMBER_PORT,
                                "subnet_id": member_subnet["id"],
                            }
                            for _, address in MEMBERS
                        ],
                        "healthmonitor": {
                            "type": "HTTP",
                            "delay": 1,
                            "timeout": 1,
                            "max_retries": 2,
                            "url_path": "/",
                        },
                    }
                ],
            }
        }
        began = time.monotonic()
        lb = self.call("POST", "/v2/lbaas/loadbalancers", body, expect=201)["loadbalancer"]
        self.say(
            f"POST /v2/lbaas/loadbalancers (ACTIVE_STANDBY, full tree) answered 201 in "
            f"{(time.monotonic() - began) * 1000:.0f} ms: VIP {lb['vip_address']}, "
            f"{lb['provisioning_status']}"
        )
        took = self.wait_active(lb["id"])
        self.say(f"lb1 is ACTIVE {took:.2f} s after the create answered")
        for amphora in self.amphorae(lb["id"]):
            self.say(
                f"  amphora {amphora.id[:8]} {amphora.role:<7} namespace {amphora.compute_id}, "
                f"management {amphora.lb_network_ip}, VRRP {amphora.vrrp_ip}"
            )
        vip = lb["vip_address"]
        answers = [http_get(client.namespace, vip, LISTENER_PORT) for _ in range(6)]
        self.say(f"6 requests to http://{vip}:{LISTENER_PORT}/ answered by: {' '.join(answers)}")
        return lb["id"], client, vip

    def amphorae(self, lb_id: str) -> list[Amphora]:
        with self.runtime.db.read() as session:
            return list(
                session.scalars(
                    select(Amphora)
                    .where(Amphora.load_balancer_id == lb_id, Amphora.status != "DELETED")
                    .order_by(Amphora.role)
                )
            )

    def vip_holder(self, lb_id: str, vip: str) -> Amphora | None:
        for amphora in self.amphorae(lb_id):
            if amphora.compute_id and any(
                address.get("local") == vip
                for link in ip_json(amphora.compute_id, "address", "show")
                for address in link.get("addr_info", [])
            ):
                return amphora
        return None

    def kill_master(self, lb_id: str, client: Host, vip: str) -> tuple[Amphora, float]:
        """Kill the VIP holder's processes under traffic; (the dead amphora, when)."""
        master = self.vip_holder(lb_id, vip)
        if master is None or master.compute_id is None:
            raise DemoError("no amphora holds the VIP")
        with Traffic(client.namespace, vip, LISTENER_PORT) as traffic:
            traffic.next_bodies(20)
            self.say(
                f"killing every process of the MASTER amphora {master.id[:8]} "
                f"({master.compute_id}) while a client sends a request every 10 ms"
            )
            killed = time.monotonic()
            stop_processes(namespace_pids(master.compute_id), grace=0)
            traffic.next_bodies(100)
        failures = traffic.failures()
        holder = self.vip_holder(lb_id, vip)
        self.say(
            f"{len(traffic.answers)} requests, {len(failures)} failed; VIP now on "
            f"{holder.id[:8] if holder else 'nobody'} ({holder.role if holder else '-'}); "
            f"takeover {traffic.outage() * 1000:.0f} ms"
        )
        answers = [http_get(client.namespace, vip, LISTENER_PORT) for _ in range(4)]
        self.say(f"after the takeover, answered by: {' '.join(answers)}")
        return master, killed

    def watch_replacement(self, lb_id: str, dead: Amphora, killed: float) -> float:
        """Follow the failover of the dead amphora through the API (its heartbeats stopped:
        the controller replaces it) until the load balancer is ACTIVE on two ALLOCATED
        amphorae again; seconds from the kill."""
        self.say(
            "the dead amphora sends no heartbeat any more: the controller will replace it "
            "(watching GET /v2/octavia/amphorae)"
        )
        seen: dict[str, str] = {}
        lb_status = ""
        while time.monotonic() - killed < WAIT:
            lb = self.call("GET", f"/v2/lbaas/loadbalancers/{lb_id}")["loadbalancer"]
            if lb["provisioning_status"] != lb_status:
                lb_status = lb["provisioning_status"]
                self.say(f"  +{time.monotonic() - killed:5.2f}s lb1 {lb_status}")
            if lb_status == "ERROR":
                raise DemoError(f"the failover of lb1 failed: {lb['fault']}")
            found = self.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb_id}")["amphorae"]
            for amphora in found:
                if seen.get(amphora["id"]) != amphora["status"]:
                    seen[amphora["id"]] = amphora["status"]
                    self.say(
                        f"  +{time.monotonic() - killed:5.2f}s amphora {amphora['id'][:8]} "
                        f"{amphora['role'] or '-':<7} {amphora['status']}"
                    )
            if dead.id in seen and all(a["id"] != dead.id for a in found):
                self.say(f"  +{time.monotonic() - killed:5.2f}s amphora {dead.id[:8]} DELETED")
                del seen[dead.id]
            statuses = sorted((a["role"], a["status"]) for a in found)
            if lb_status == "ACTIVE" and dead.id not in {a["id"] for a in found}:
                if statuses == [("BACKUP", "ALLOCATED"), ("MASTER", "ALLOCATED")]:
                    restored = time.monotonic() - killed
                    self.say(
                        f"redundancy restored {restored:.2f} s after the kill: lb1 ACTIVE on "
                        "a MASTER and a BACKUP amphora again"
                    )
                    return restored
            time.sleep(0.05)
        raise DemoError(f"lb1 was not whole again {WAIT:g} s after the kill")

    def delete(self, lb_id: str) -> None:
        self.call("DELETE", f"/v2/lbaas/loadbalancers/{lb_id}?cascade=true", expect=204)
        began = time.monotonic()
        while self.http.get(f"/v2/lbaas/loadbalancers/{lb_id}").status_code != 404:
            if time.monotonic() - began > WAIT:
                raise DemoError(f"load balancer {lb_id} was not deleted after {WAIT:g} s")
            time.sleep(0.05)
        self.say("lb1 deleted: its amphorae, ports and namespaces are gone")

    def close(self) -> None:
        for server in self.servers:
            server.stop()


def _prerequisites() -> str | None:
    if os.geteuid() != 0:
        return "ostia demo runs real load balancers in network namespaces: run it as root."
    missing = [tool for tool in ("haproxy", "keepalived", "ip") if shutil.which(tool) is None]
    if missing:
        return f"ostia demo needs {', '.join(missing)}: run ./scripts/install (as root) first."
    return None


def _serve(runtime: Runtime, host: str, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(
        uvicorn.Config(runtime.api(), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    began = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - began > 30:
            raise DemoError(f"the API did not start on {host}:{port}")
        time.sleep(0.01)
    return server, thread


def run_demo(settings: Settings, keep: bool) -> int:
    if problem := _prerequisites():
        print(problem)
        return 2
    host, port = settings.api.bind_host, settings.api.bind_port
    # The demo's own lines and the controller's, not every request it makes.
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    scratch = Path(tempfile.mkdtemp(prefix="ostia-demo-"))
    scratch.chmod(0o755)  # HAProxy reads the amphorae's files as nobody
    prefix = f"demo{secrets.token_hex(3)}"
    settings = settings.model_copy(
        update={
            "data_dir": scratch,
            "database": settings.database.model_copy(update={"url": ""}),
            "api": settings.api.model_copy(update={"auth_strategy": "keystone"}),
            "networking": settings.networking.model_copy(update={"mode": "managed"}),
            "controller": settings.controller.model_copy(update={"provider": "amphora"}),
            "dataplane": settings.dataplane.model_copy(update={"prefix": prefix}),
            # Amphorae booted in advance: the load balancer and the failover claim them.
            "house_keeping": settings.house_keeping.model_copy(
                update={
                    "spare_amphora_pool_size": settings.house_keeping.spare_amphora_pool_size
                    or DEMO_SPARES
                }
            ),
            "identity": settings.identity.model_copy(
                update={"public_url": f"http://{host}:{port}", "external_url": ""}
            ),
        }
    )
    print(f"Starting Ostia (API and controller in one process; files in {scratch})", flush=True)
    migrate.upgrade(settings.database_url)
    runtime = Runtime.open(settings)
    fabric = Fabric(prefix)
    controller = None
    server = thread = None
    demo = None
    try:
        access = ensure_admin(runtime.db, settings)
        assert access.password is not None, "a new data directory has no admin yet"
        controller = runtime.controller()
        controller.start()
        server, thread = _serve(runtime, host, port)
        print(f"Ostia serves the Octavia v2 API on http://{host}:{port}/", flush=True)
        demo = Demo(f"http://{host}:{port}", access.password, runtime, fabric)
        lb_id, client, vip = demo.run()
        dead, killed = demo.kill_master(lb_id, client, vip)
        demo.watch_replacement(lb_id, dead, killed)
        answers = [http_get(client.namespace, vip, LISTENER_PORT) for _ in range(4)]
        demo.say(f"answered by: {' '.join(answers)}")
        if keep:
            print(
                f"\nKept. Try: ip netns exec {client.namespace} curl http://{vip}:{LISTENER_PORT}/\n"
                f"The openstack CLI: export OS_CLIENT_CONFIG_FILE={access.clouds_yaml} "
                f"OS_CLOUD={CLOUD_NAME}\nCtrl-C removes everything.",
                flush=True,
            )
            thread.join()
        else:
            demo.delete(lb_id)
    except KeyboardInterrupt:
        pass
    except DemoError as exc:
        print(f"ostia demo: {exc}")
        return 1
    finally:
        if demo is not None:
            demo.close()
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join()
        if controller is not None:
            controller.stop()
        fabric.destroy()
        runtime.close()
        shutil.rmtree(scratch, ignore_errors=True)
        print("Cleaned up: no namespace, process or file of the demo is left.", flush=True)
    return 0
