"""Octavia's amphora agent API (INVENTORY §4.1): its routes, success codes and bodies.

Every request that changes something runs under one lock, as Octavia's single gunicorn worker
serves them one at a time; the supervision of HAProxy and keepalived takes the same lock.
Beyond Octavia: ``PUT /1.0/loadbalancer/<lb_id>/runtime`` passes weight and state changes of
servers to HAProxy's runtime API, without a reload.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ostia.agent import certificate, files, info
from ostia.agent.config import AgentConfig, ConfigError, parse
from ostia.agent.haproxy import RUNTIME_COMMAND, CommandFailed, HAProxy
from ostia.agent.interfaces import HostRoute, Ip, IpAddress, IpError, Subnet
from ostia.agent.keepalived import Keepalived
from ostia.agent.process import Child, InvalidConfig, StartError
from ostia.agent.server import (
    HttpError,
    Reply,
    Request,
    Respond,
    Router,
    message,
    reply,
    tls_context,
)
from ostia.agent.state import State

log = logging.getLogger(__name__)

API_VERSION = "1.0"
ACTIONS = ("start", "stop", "reload")
CERT_FILENAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.pem$")


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _host_routes(raw: Any) -> tuple[HostRoute, ...]:
    return tuple(
        HostRoute(
            ipaddress.ip_network(route["destination"]), ipaddress.ip_address(route["nexthop"])
        )
        for route in raw or ()
    )


def _subnet(address: Any, raw: dict[str, Any]) -> Subnet:
    """A VIP or fixed IP of a request body; raises ValueError (or KeyError, TypeError)."""
    gateway = raw.get("gateway")
    return Subnet(
        address=ipaddress.ip_address(address),
        network=ipaddress.ip_network(raw["subnet_cidr"]),
        gateway=ipaddress.ip_address(gateway) if gateway else None,
        host_routes=_host_routes(raw.get("host_routes")),
    )


class Agent:
    """The amphora: its HAProxy, keepalived and interfaces, behind Octavia's routes."""

    def __init__(self, config: AgentConfig, config_path: Path) -> None:
        self.config = config
        self._config_path = config_path
        # Called (under the lock) once a new server certificate is in place.
        self.on_certificate: Callable[[], None] = lambda: None
        self.lock = threading.RLock()
        self.ip = Ip(config.ip_cmd)
        self.haproxy = HAProxy(config, self._child("haproxy"))
        self.keepalived = Keepalived(config, self._child("keepalived"))
        self.state = State.load(config.state_file)
        # keepalived stopped by the agent itself because HAProxy could not be restarted.
        self._keepalived_held = False
        self.haproxy.child.on_restart_failed = self._haproxy_down
        self.haproxy.child.on_restarted = self._haproxy_back
        self.keepalived.child.on_crash = self._keepalived_crashed
        self.router = Router()
        self._add_routes()

    def _child(self, name: str) -> Child:
        return Child(
            name,
            self.lock,
            cwd=self.config.directory,
            delay_min=self.config.restart_delay_min,
            delay_max=self.config.restart_delay_max,
            ready_timeout=self.config.process_ready_timeout,
        )

    # -- life of the agent -----------------------------------------------------------------

    def restore(self) -> None:
        """Stop what an earlier agent of this directory left running, then start what the
        controller had asked to run."""
        with self.lock:
            self.haproxy.stop_leftover()
            self.keepalived.stop_leftovers()
            if self.state.haproxy and self.haproxy.cfg.exists():
                try:
                    self.haproxy.start()
                except StartError as exc:
                    log.error("could not start HAProxy again: %s", exc)
            if self.state.keepalived and self.keepalived.conf.exists():
                try:
                    self.keepalived.start()
                except StartError as exc:
                    log.error("could not start keepalived again: %s", exc)

    def shutdown(self) -> None:
        """Stop the children (keepalived first: its priority 0 advert moves the VIP at once)."""
        with self.lock:
            self.keepalived.stop()
            self.haproxy.stop()

    def _save(self) -> None:
        self.state.save(self.config.state_file)

    # -- supervision hooks (called under the lock) ------------------------------------------

    def _haproxy_down(self) -> None:
        if self.keepalived.running:
            log.error("HAProxy cannot run: stopping keepalived so that the VIP moves")
            self.keepalived.stop()
            self._keepalived_held = True

    def _haproxy_back(self) -> None:
        if self._keepalived_held and self.state.keepalived:
            log.info("HAProxy runs again: starting keepalived")
            try:
                self.keepalived.start()
            except StartError as exc:
                log.error("could not start keepalived again: %s", exc)
        self._keepalived_held = False

    def _keepalived_crashed(self) -> None:
        # A killed keepalived leaves its VIPs: the amphora would keep answering ARP for
        # them (DATAPLANE_NOTES P6).
        self.keepalived.stop_leftovers()
        try:
            removed = self.ip.remove_addresses(self.keepalived.virtual_addresses())
        except IpError as exc:
            log.error("could not remove keepalived's addresses: %s", exc)
        else:
            for command in removed:
                log.warning("after keepalived's crash: ip %s", command)

    def _announce(self, addresses: list[IpAddress]) -> None:
        try:
            announced = self.ip.announce(addresses)
        except (IpError, OSError) as exc:
            log.warning("could not announce %s: %s", addresses, exc)
        else:
            log.info("gratuitous ARP for %s", ", ".join(announced) or "nothing")

    # -- routes ------------------------------------------------------------------------------

    def _add_routes(self) -> None:
        add, p = self.router.add, f"/{API_VERSION}"
        add("GET", "/", self.version)
        add("GET", f"{p}/info", self.get_info)
        add("GET", f"{p}/details", self.get_details)
        add("GET", f"{p}/listeners", self.get_listeners)
        add("PUT", f"{p}/loadbalancer/<lb_id>/certificates/<filename>", self.put_certificate)
        add("GET", f"{p}/loadbalancer/<lb_id>/certificates/<filename>", self.get_certificate)
        add("DELETE", f"{p}/loadbalancer/<lb_id>/certificates/<filename>", self.del_certificate)
        add("PUT", f"{p}/loadbalancer/<amphora_id>/<lb_id>/haproxy", self.upload_haproxy)
        add("GET", f"{p}/loadbalancer/<lb_id>/haproxy", self.get_haproxy)
        add("PUT", f"{p}/loadbalancer/<lb_id>/runtime", self.runtime)
        add("PUT", f"{p}/loadbalancer/<lb_id>/<action>", self.haproxy_action)
        add("DELETE", f"{p}/listeners/<lb_id>", self.delete_loadbalancer)
        add("POST", f"{p}/plug/vip/<vip>", self.plug_vip)
        add("POST", f"{p}/plug/network", self.plug_network)
        add("PUT", f"{p}/certificate", self.put_server_certificate)
        add("PUT", f"{p}/config", self.put_config)
        add("PUT", f"{p}/vrrp/upload", self.upload_vrrp)
        add("PUT", f"{p}/vrrp/<action>", self.vrrp_action)
        add("GET", f"{p}/interface/<ip_addr>", self.get_interface)

    def version(self, request: Request) -> Reply:
        return reply(200, {"api_version": API_VERSION})

    def get_info(self, request: Request) -> Reply:
        return reply(200, self._info())

    def _info(self) -> dict[str, Any]:
        return {
            "hostname": f"amphora-{self.config.amphora_id}",
            "haproxy_version": self.haproxy.version(),
            "api_version": API_VERSION,
        }

    def get_details(self, request: Request) -> Reply:
        limit = info.fd_limit()
        body = {
            **self._info(),
            "networks": self.ip.counters(),
            "active": True,
            "haproxy_count": 1 if self.haproxy.running else 0,
            **info.machine(self.config.directory),
            "active_tuned_profiles": "",
            "topology": self.config.topology,
            "topology_status": "OK",
            "listeners": sorted(listener["uuid"] for listener in self.haproxy.listeners()),
            "packages": {},
            "max_connections": info.max_connections(limit),
            "fd_limit": limit,
        }
        return reply(200, body)

    def get_listeners(self, request: Request) -> Reply:
        return reply(200, self.haproxy.listeners())

    # -- HAProxy -------------------------------------------------------------------------------

    def _check_loadbalancer(self, lb_id: str) -> None:
        if lb_id != self.state.loadbalancer_id:
            raise Respond(
                message(404, "Loadbalancer Not Found", f"No loadbalancer with UUID: {lb_id}")
            )

    def upload_haproxy(self, request: Request, amphora_id: str, lb_id: str) -> Reply:
        if amphora_id != self.config.amphora_id:
            return message(400, "Invalid request", f"This is amphora {self.config.amphora_id}")
        with self.lock:
            current = self.state.loadbalancer_id
            if current not in (None, lb_id):
                return message(
                    409, "Invalid request", f"This amphora serves loadbalancer {current}"
                )
            try:
                self.haproxy.install(request.body)
            except InvalidConfig as exc:
                return message(400, "Invalid request", str(exc))
            self.state.loadbalancer_id = lb_id
            self._save()
        return message(202, "OK", ETag=_md5(request.body))

    def get_haproxy(self, request: Request, lb_id: str) -> Reply:
        self._check_loadbalancer(lb_id)
        text = self.haproxy.cfg.read_bytes()
        return Reply(200, text, "text/plain; charset=utf-8", {"ETag": _md5(text)})

    def haproxy_action(self, request: Request, lb_id: str, action: str) -> Reply:
        action = action.lower()
        if action not in ACTIONS:
            return message(400, "Invalid Request", f"Unknown action: {action}")
        with self.lock:
            self._check_loadbalancer(lb_id)
            if action == "reload" and not self.haproxy.running:
                action = "start"
            try:
                if action == "stop":
                    self.haproxy.stop()
                elif action == "start":
                    self.haproxy.start()
                else:
                    self.haproxy.reload()
            except StartError as exc:
                # A first configuration is checked by the start itself (HAProxy.install).
                if action == "start" and (reason := self.haproxy.refused()) is not None:
                    self.state.loadbalancer_id = None  # as before that upload
                    self._save()
                    return message(400, "Invalid request", reason)
                return message(500, f"Error {action}ing haproxy", str(exc))
            self.state.haproxy = action != "stop"
            self._save()
            if action != "stop":
                self._haproxy_back()
                if self.config.topology == "SINGLE":  # keepalived announces its VIP itself
                    self._announce(self.haproxy.bind_addresses())
        if action == "start":
            details = f"Configuration file is valid\nhaproxy daemon for {lb_id} started"
            return message(202, "OK", details)
        # Octavia's wording, "stoped" included.
        return message(202, "OK", f"Listener {lb_id} {action}ed")

    def runtime(self, request: Request, lb_id: str) -> Reply:
        commands = request.json()
        if not isinstance(commands, list) or not all(
            isinstance(command, str) and RUNTIME_COMMAND.match(command) for command in commands
        ):
            return message(
                400,
                "Invalid request",
                "expected a JSON list of 'set server <backend>/<server> weight <0-256>'"
                " or 'set server <backend>/<server> state ready|drain|maint' commands",
            )
        with self.lock:
            self._check_loadbalancer(lb_id)
            if not self.haproxy.running:
                return message(409, "Invalid request", "HAProxy is not running")
            try:
                self.haproxy.runtime(commands)
            except CommandFailed as exc:
                return message(400, "Runtime command failed", str(exc))
        return message(200, "OK", f"{len(commands)} command(s) applied")

    def delete_loadbalancer(self, request: Request, lb_id: str) -> Reply:
        with self.lock:
            if lb_id == self.state.loadbalancer_id:
                self.haproxy.stop()
                self.haproxy.remove_files()
                self._remove_certificates()
                self.state.loadbalancer_id, self.state.haproxy = None, False
                self._save()
        return message(200, "OK")

    # -- listener certificates ---------------------------------------------------------------

    def _certificate_path(self, filename: str) -> Path:
        # One load balancer per amphora: its certificates are certs/<filename>, the paths the
        # controller renders (Octavia nests them under the load balancer id).
        if not CERT_FILENAME.match(filename):
            raise Respond(message(400, "Filename has wrong format"))
        return self.config.certs_dir / filename

    def _remove_certificates(self) -> None:
        directory = self.config.certs_dir
        if directory.is_dir():
            for path in directory.iterdir():
                path.unlink()
            directory.rmdir()

    def put_certificate(self, request: Request, lb_id: str, filename: str) -> Reply:
        path = self._certificate_path(filename)
        with self.lock:
            path.parent.mkdir(mode=0o700, exist_ok=True)
            files.write(path, request.body)
        return message(200, "OK", ETag=_md5(request.body))

    def get_certificate(self, request: Request, lb_id: str, filename: str) -> Reply:
        path = self._certificate_path(filename)
        try:
            md5sum = _md5(path.read_bytes())
        except FileNotFoundError:
            return message(
                404, "Certificate Not Found", f"No certificate with filename: {filename}"
            )
        return reply(200, {"md5sum": md5sum}, {"ETag": md5sum})

    def del_certificate(self, request: Request, lb_id: str, filename: str) -> Reply:
        path = self._certificate_path(filename)
        with self.lock:
            path.unlink(missing_ok=True)
        return message(200, "OK")

    # -- interfaces ----------------------------------------------------------------------------

    def _interface_by_mac(self, mac: str) -> str:
        ifname = self.ip.link_by_mac(mac)
        if ifname is None:
            # Octavia's client reads this 404 as "not plugged yet" and retries.
            raise Respond(reply(404, {"details": "No suitable network interface found"}))
        return ifname

    def plug_vip(self, request: Request, vip: str) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or not {"subnet_cidr", "gateway", "mac_address"} <= set(body):
            raise HttpError(400, "Invalid subnet information")
        try:
            vips = [_subnet(vip, body)] + [
                _subnet(extra["ip_address"], extra) for extra in body.get("additional_vips") or ()
            ]
        except (ValueError, KeyError, TypeError) as exc:
            return message(400, f"Invalid VIP: {exc}")
        try:
            vrrp_ip = body.get("vrrp_ip")
            vrrp = ipaddress.ip_address(vrrp_ip) if vrrp_ip else None
        except ValueError as exc:
            return message(400, f"Invalid VRRP Address: {exc}")
        mtu = body.get("mtu")
        if mtu is not None and (not isinstance(mtu, int) or isinstance(mtu, bool) or mtu < 68):
            raise HttpError(400, "Invalid subnet information")
        with self.lock:
            ifname = self._interface_by_mac(str(body["mac_address"]))
            own_vip = self.config.topology == "SINGLE"
            try:
                self.ip.plug_vip(ifname, vips, vrrp, mtu, own_vip)
            except IpError as exc:
                return message(500, "Error plugging VIP", str(exc))
        addresses = ", ".join(str(v.address) for v in vips)
        return message(202, "OK", f"VIPs plugged on interface {ifname}: {addresses}")

    def plug_network(self, request: Request) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or "mac_address" not in body:
            raise HttpError(400, "Invalid port information")
        try:
            fixed_ips = [_subnet(ip["ip_address"], ip) for ip in body.get("fixed_ips") or ()]
        except (ValueError, KeyError, TypeError):
            return message(400, "Invalid network port")
        mtu = body.get("mtu")
        if mtu is not None and (not isinstance(mtu, int) or isinstance(mtu, bool) or mtu < 68):
            return message(400, "Invalid network port")
        with self.lock:
            ifname = self._interface_by_mac(str(body["mac_address"]))
            try:
                self.ip.plug_network(ifname, fixed_ips, mtu)
            except IpError as exc:
                return message(500, "Error plugging network", str(exc))
            self._announce([ip.address for ip in fixed_ips])
        return message(202, "OK", f"Plugged on interface {ifname}")

    def get_interface(self, request: Request, ip_addr: str) -> Reply:
        try:
            address = ipaddress.ip_address(ip_addr)
        except ValueError:
            return message(400, "Invalid IP address")
        ifname = self.ip.interface_of(address)
        if ifname is None:
            return message(404, "Error interface not found for IP address")
        return reply(200, {"message": "OK", "interface": ifname})

    # -- the agent's own certificate and configuration -----------------------------------------

    def put_server_certificate(self, request: Request) -> Reply:
        """Rotation: a refused certificate leaves the current one in place; an accepted one
        serves every new connection at once (``on_certificate``), open ones are left be."""
        candidate = self.config.file("server.pem.new")
        with self.lock:
            files.write(candidate, request.body)
            try:
                certificate.check(candidate, self.config.client_ca, self.config.amphora_id)
                tls_context(candidate, self.config.client_ca, self.config.agent_tls_protocol)
            except (OSError, ValueError) as exc:
                candidate.unlink()
                return message(400, "Invalid certificate", str(exc))
            os.replace(candidate, self.config.server_cert)
            self.on_certificate()
        log.info("new server certificate in place")
        return message(202, "OK")

    def put_config(self, request: Request) -> Reply:
        try:
            new = parse(request.body, self.config.directory)
        except ConfigError as exc:
            return message(500, "Unable to update amphora-agent configuration.", str(exc))
        with self.lock:
            files.write(self._config_path, request.body)
            # The topology applies at once (a spare amphora is told its load balancer's, as
            # Octavia's agent mutates its options); the others at the agent's next start.
            self.config = dataclasses.replace(self.config, topology=new.topology)
        return message(202, "OK")

    # -- keepalived ----------------------------------------------------------------------------

    def upload_vrrp(self, request: Request) -> Reply:
        with self.lock:
            try:
                self.keepalived.install(request.body)
            except InvalidConfig as exc:
                return message(400, "Invalid request", str(exc))
        return message(200, "OK", ETag=_md5(request.body))

    def vrrp_action(self, request: Request, action: str) -> Reply:
        action = action.lower()
        if action not in ACTIONS:
            return message(400, "Invalid Request", f"Unknown action: {action}")
        with self.lock:
            if action == "start" and self.keepalived.running:
                action = "reload"
            elif action == "reload" and not self.keepalived.running:
                action = "start"
            if action != "stop" and not self.keepalived.conf.exists():
                return message(500, f"Failed to {action} keepalived", "No configuration uploaded")
            try:
                if action == "stop":
                    self.keepalived.stop()
                elif action == "start":
                    self.keepalived.start()
                else:
                    self.keepalived.reload()
            except StartError as exc:
                return message(500, f"Failed to {action} keepalived", str(exc))
            self._keepalived_held = False
            self.state.keepalived = action != "stop"
            self._save()
        return message(202, "OK", f"keepalived {action}ed")
