"""The database side of amphorae: their rows and their ports in Ostia's network service.

Every row and port is written before anything is made of it on the machine, and a port's id is
recorded on its amphora in the transaction that creates it, so a controller that dies at any
point finds everything again and resumes. Ports of an amphora are owned by ``Octavia`` with
the amphora id as ``device_id``; their names say what they are:

- ``octavia-amphora-<amphora id>-mgmt0``: its management port (Octavia's Nova instance gets
  one implicitly),
- ``octavia-lb-vrrp-<amphora id>``: its base port on the VIP network (Octavia's name), the
  VIP as allowed address pair,
- ``octavia-amphora-<amphora id>-m<n>``: a member network's port, plugged as ``m<n>``.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from ostia import constants
from ostia.amphora.render import HostRoute
from ostia.db.amphora_requests import FAILOVER_STOPPED
from ostia.db.engine import Database
from ostia.db.models import Amphora, AmphoraHealth, LoadBalancer
from ostia.drivers.fabric import MGMT_IFNAME, PortPlug
from ostia.network import ipam, ports
from ostia.network.models import Network, Port, Subnet

# Octavia's amphora statuses and roles.
BOOTING = "BOOTING"
# A spare: booted in advance, no load balancer, no role, waiting to be claimed.
READY = "READY"
ALLOCATED = "ALLOCATED"
PENDING_UPDATE = "PENDING_UPDATE"
PENDING_DELETE = "PENDING_DELETE"
DELETED = "DELETED"
STANDALONE = "STANDALONE"
MASTER = "MASTER"
BACKUP = "BACKUP"
ROLES = {constants.SINGLE: (STANDALONE,), constants.ACTIVE_STANDBY: (MASTER, BACKUP)}
PRIORITIES = {MASTER: 100, BACKUP: 90}
# Amphorae of their load balancer (FAILOVER_STOPPED: stale, left in place by the circuit
# breaker; a change of the load balancer repairs it, a failover replaces it).
LIVE = (BOOTING, ALLOCATED, PENDING_UPDATE, FAILOVER_STOPPED)

PORT_OWNER = ipam.LOAD_BALANCER_PORT_OWNER
VRRP_INTERFACE = "vip0"
MEMBER_INTERFACE = re.compile(r"m(\d+)")


def _port_name(amphora_id: str, ifname: str) -> str:
    return f"octavia-amphora-{amphora_id}-{ifname}"


def _vrrp_port_name(amphora_id: str) -> str:
    return f"octavia-lb-vrrp-{amphora_id}"


@dataclass(frozen=True)
class SubnetInfo:
    id: str
    network_id: str
    cidr: str
    gateway_ip: str | None
    host_routes: tuple[HostRoute, ...]

    @classmethod
    def of(cls, subnet: Subnet) -> SubnetInfo:
        routes = tuple(HostRoute(r["destination"], r["nexthop"]) for r in subnet.host_routes or ())
        return cls(subnet.id, subnet.network_id, subnet.cidr, subnet.gateway_ip, routes)

    def agent_view(self) -> dict[str, Any]:
        """The subnet as the agent's plug routes describe it."""
        return {
            "subnet_cidr": self.cidr,
            "gateway": self.gateway_ip,
            "host_routes": [
                {"destination": r.destination, "nexthop": r.nexthop} for r in self.host_routes
            ],
        }

    def address_view(self, address: str) -> dict[str, Any]:
        """An address on the subnet, as the agent's plug routes take it."""
        return {"ip_address": address, **self.agent_view()}


@dataclass(frozen=True)
class FixedIpInfo:
    ip_address: str
    subnet: SubnetInfo

    @property
    def address_cidr(self) -> str:
        prefix = ipaddress.ip_network(self.subnet.cidr).prefixlen
        return f"{self.ip_address}/{prefix}"


@dataclass(frozen=True)
class PortInfo:
    """A port as the data plane uses it."""

    id: str
    network_id: str
    mac_address: str
    mtu: int
    fixed_ips: tuple[FixedIpInfo, ...]

    @classmethod
    def of(cls, session: Session, port: Port) -> PortInfo:
        network = session.get_one(Network, port.network_id)
        subnets = {s.id: SubnetInfo.of(s) for s in network.subnets}
        fixed = tuple(FixedIpInfo(a.ip_address, subnets[a.subnet_id]) for a in port.fixed_ips)
        return cls(port.id, port.network_id, port.mac_address, network.mtu, fixed)

    @property
    def plug(self) -> PortPlug:
        return PortPlug(self.id, self.network_id, self.mac_address, self.mtu)

    @property
    def first(self) -> FixedIpInfo:
        if not self.fixed_ips:
            raise ValueError(f"port {self.id} has no fixed IP")
        return self.fixed_ips[0]


@dataclass(frozen=True)
class MemberPort:
    ifname: str
    port: PortInfo


def claim_spare(session: Session, values: Mapping[str, Any]) -> str | None:
    """Give the oldest READY spare these ``values`` (its load balancer, role, status); its id,
    or None if there is none. Each claim is a compare-and-set on ``status = READY``: of two
    transactions claiming the same spare, the second's update matches no row once the first
    commits (it waits for the row's lock), and it goes on to the next spare."""
    candidates = session.scalars(
        select(Amphora.id)
        .where(Amphora.status == READY, Amphora.load_balancer_id.is_(None))
        .order_by(Amphora.created_at, Amphora.id)
    ).all()
    for amphora_id in candidates:
        claimed = session.execute(
            update(Amphora)
            .where(
                Amphora.id == amphora_id,
                Amphora.status == READY,
                Amphora.load_balancer_id.is_(None),
            )
            .values(**values)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return amphora_id
    return None


def create_port(
    session: Session, network_id: str, project_id: str, name: str, device_id: str, **spec: Any
) -> Port:
    return ports.create_port(
        session,
        session.get_one(Network, network_id),
        ports.PortSpec(
            project_id=project_id,
            name=name,
            device_id=device_id,
            device_owner=PORT_OWNER,
            **spec,
        ),
    )


class AmphoraStore:
    """Amphora rows and ports, each method one transaction."""

    def __init__(self, db: Database, management_network_id: str, project_id: str) -> None:
        self.db = db
        self.management_network_id = management_network_id
        self.project_id = project_id
        # Called after a transaction that claimed spares (the pool refills).
        self.on_claim: Callable[[], None] = lambda: None

    # -- rows ----------------------------------------------------------------------------------

    def amphorae(self, lb_id: str, statuses: Iterable[str] | None = None) -> list[Amphora]:
        """The load balancer's amphorae not deleted (or of these statuses), MASTER first."""
        stmt = select(Amphora).where(Amphora.load_balancer_id == lb_id)
        stmt = stmt.where(
            Amphora.status.in_(statuses) if statuses is not None else Amphora.status != DELETED
        )
        with self.db.read() as session:
            found = list(session.scalars(stmt))
        return sorted(found, key=lambda a: (-(a.vrrp_priority or 0), a.created_at, a.id))

    def ensure_amphorae(self, lb: LoadBalancer) -> list[Amphora]:
        """One live amphora per role of the topology (rows BOOTING until configured): a
        spare claimed, or a new row."""
        claimed = 0
        with self.db.write() as session:
            live = session.scalars(
                select(Amphora).where(Amphora.load_balancer_id == lb.id, Amphora.status.in_(LIVE))
            ).all()
            roles = {a.role for a in live}
            for role in ROLES[lb.topology]:
                if role not in roles:
                    claimed += self._add(session, lb, role)
        if claimed:
            self.on_claim()
        return self.amphorae(lb.id, statuses=LIVE)

    def _add(self, session: Session, lb: LoadBalancer, role: str) -> bool:
        """An amphora of ``role`` for the load balancer: a spare if one is READY (True), else
        a new row."""
        values = {
            "load_balancer_id": lb.id,
            "status": BOOTING,
            "role": role,
            "ha_ip": lb.vip.ip_address,
            "ha_port_id": lb.vip.port_id,
            "vrrp_interface": VRRP_INTERFACE,
            "vrrp_id": 1,
            "vrrp_priority": PRIORITIES.get(role),
        }
        if claim_spare(session, values) is not None:
            return True
        session.add(Amphora(id=str(uuid.uuid4()), **values))
        return False

    def new_spare(self) -> Amphora:
        """A row for a spare being booted: BOOTING, no load balancer, no role."""
        with self.db.write() as session:
            row = Amphora(id=str(uuid.uuid4()), status=BOOTING)
            session.add(row)
        return row

    def begin_replacement(self, lb: LoadBalancer, amphora: Amphora) -> None:
        """Mark ``amphora`` PENDING_DELETE and add its replacement (same role), at once."""
        with self.db.write() as session:
            session.execute(
                update(Amphora).where(Amphora.id == amphora.id).values(status=PENDING_DELETE)
            )
            claimed = self._add(session, lb, str(amphora.role))
        if claimed:
            self.on_claim()

    def set(self, amphora: Amphora, **values: Any) -> None:
        """Update the row and the detached object."""
        with self.db.write() as session:
            session.execute(update(Amphora).where(Amphora.id == amphora.id).values(**values))
        for name, value in values.items():
            setattr(amphora, name, value)

    def release(self, amphora: Amphora) -> None:
        """The amphora is gone from the machine: give its ports back, forget its health,
        mark it DELETED."""
        with self.db.write() as session:
            session.execute(delete(Port).where(Port.device_id == amphora.id))
            session.execute(delete(AmphoraHealth).where(AmphoraHealth.amphora_id == amphora.id))
            session.execute(update(Amphora).where(Amphora.id == amphora.id).values(status=DELETED))
        amphora.status = DELETED

    # -- ports ---------------------------------------------------------------------------------

    def subnets(self, subnet_ids: Iterable[str]) -> dict[str, SubnetInfo]:
        ids = set(subnet_ids)
        with self.db.read() as session:
            found = session.scalars(select(Subnet).where(Subnet.id.in_(ids))).all()
            return {s.id: SubnetInfo.of(s) for s in found}

    def _port(self, session: Session, port_id: str | None) -> Port | None:
        return session.get(Port, port_id) if port_id else None

    def management_port(self, amphora: Amphora) -> PortInfo:
        """The amphora's management port, created (an address of the management subnet)
        and recorded on the row the first time."""
        with self.db.write() as session:
            port = self._port(session, amphora.management_port_id)
            if port is None:
                port = create_port(
                    session,
                    self.management_network_id,
                    self.project_id,
                    _port_name(amphora.id, MGMT_IFNAME),
                    amphora.id,
                )
                info = PortInfo.of(session, port)
                values = {"management_port_id": port.id, "lb_network_ip": info.first.ip_address}
                session.execute(update(Amphora).where(Amphora.id == amphora.id).values(**values))
                amphora.management_port_id, amphora.lb_network_ip = port.id, info.first.ip_address
            return PortInfo.of(session, port)

    def vrrp_port(self, amphora: Amphora, lb: LoadBalancer) -> PortInfo:
        """The amphora's base port on the VIP subnet, the VIPs as its allowed address pairs."""
        with self.db.write() as session:
            port = self._port(session, amphora.vrrp_port_id)
            if port is None:
                port = create_port(
                    session,
                    str(lb.vip.network_id),
                    self.project_id,
                    _vrrp_port_name(amphora.id),
                    amphora.id,
                    fixed_ips=[ports.FixedIp(subnet_id=lb.vip.subnet_id)],
                )
                port.allowed_address_pairs = [
                    {"ip_address": address, "mac_address": port.mac_address}
                    for address in lb.vip_addresses
                    if address is not None
                ]
                info = PortInfo.of(session, port)
                values = {"vrrp_port_id": port.id, "vrrp_ip": info.first.ip_address}
                session.execute(update(Amphora).where(Amphora.id == amphora.id).values(**values))
                amphora.vrrp_port_id, amphora.vrrp_ip = port.id, info.first.ip_address
            return PortInfo.of(session, port)

    def _member_ports(self, session: Session, amphora: Amphora) -> dict[str, tuple[str, Port]]:
        """network id → (interface, port) of the amphora's member network ports."""
        prefix = _port_name(amphora.id, "")
        found: dict[str, tuple[str, Port]] = {}
        for port in session.scalars(select(Port).where(Port.device_id == amphora.id)):
            ifname = port.name.removeprefix(prefix)
            if port.name.startswith(prefix) and MEMBER_INTERFACE.fullmatch(ifname):
                found[port.network_id] = (ifname, port)
        return found

    def stale_member_ports(self, amphora: Amphora, wanted: Iterable[str]) -> list[str]:
        """Ids of the amphora's member ports on networks not in ``wanted``."""
        networks = set(wanted)
        with self.db.read() as session:
            found = self._member_ports(session, amphora)
            return [port.id for net, (_, port) in found.items() if net not in networks]

    def delete_port(self, port_id: str) -> None:
        with self.db.write() as session:
            session.execute(delete(Port).where(Port.id == port_id))

    def member_ports(self, amphora: Amphora, wanted: Mapping[str, list[str]]) -> list[MemberPort]:
        """A port per member network (network id → its member subnets), with exactly an
        address on each of those subnets; new ones get the first free ``m<n>``."""
        with self.db.write() as session:
            found = self._member_ports(session, amphora)
            used = {int(ifname[1:]) for ifname, _ in found.values()}
            result = []
            for network_id, subnet_ids in sorted(wanted.items()):
                requested = [ports.FixedIp(subnet_id=s) for s in sorted(subnet_ids)]
                if network_id in found:
                    ifname, port = found[network_id]
                    if {a.subnet_id for a in port.fixed_ips} != set(subnet_ids):
                        ports.update_fixed_ips(session, port, requested)
                else:
                    index = min(set(range(len(used) + 1)) - used)
                    used.add(index)
                    ifname = f"m{index}"
                    port = create_port(
                        session,
                        network_id,
                        self.project_id,
                        _port_name(amphora.id, ifname),
                        amphora.id,
                        fixed_ips=requested,
                    )
                result.append(MemberPort(ifname, PortInfo.of(session, port)))
            return result
