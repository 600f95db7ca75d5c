"""The amphora provider: the reconciler's load balancers run on amphorae, each a network
namespace with Ostia's agent, HAProxy and (ACTIVE_STANDBY) keepalived.

``apply`` makes the amphorae of a load balancer run its tree, in three passes:

1. the database: one amphora row per role (SINGLE: STANDALONE; ACTIVE_STANDBY: MASTER and
   BACKUP), each with its management port, its base (VRRP) port on the VIP subnet and a port
   per member network, all recorded before anything is made of them;
2. per amphora: boot it if its agent does not run, plug its VIP port (``vip0``) and member
   network ports (``m<n>``) and have the agent configure them, then HAProxy: the rendered
   configuration uploaded and loaded, or, when only members' weights or admin states changed,
   applied through HAProxy's runtime API and uploaded without a reload;
3. ACTIVE_STANDBY: keepalived's configuration of each, MASTER first, and one of them owning the
   VIP before the load balancer counts as running.

An amphora row is ``BOOTING`` until it is configured, then ``ALLOCATED``; it is set
``PENDING_UPDATE`` before a change is pushed to it and ``ALLOCATED`` again after, so a run cut
short at any point is completed by the next one (which pushes everything to an amphora that
is not ``ALLOCATED``). ``failover`` replaces the amphorae one at a time (the standby first): the
new one takes the old one's role and the same VIP, then the old one is removed. ``delete``
removes the amphorae and gives their ports back.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ostia import constants
from ostia.amphora.client import RETRY_FOR, AgentClient, AgentError, ClientCredentials
from ostia.amphora.render import (
    HAPROXY_MAX_MAXCONN,
    AmphoraView,
    RenderSettings,
    SubnetView,
    render_haproxy,
    render_keepalived,
)
from ostia.certificates.ca import LocalCA, expiration
from ostia.config import Settings
from ostia.controller.amphora_store import (
    ALLOCATED,
    BOOTING,
    LIVE,
    PENDING_DELETE,
    PENDING_UPDATE,
    READY,
    VRRP_INTERFACE,
    AmphoraStore,
    MemberPort,
    PortInfo,
    SubnetInfo,
)
from ostia.controller.haproxy_changes import runtime_commands
from ostia.controller.management import SERVICE_PROJECT_ID, ensure_management_network
from ostia.controller.provider import ProviderUnavailable
from ostia.db.engine import Database
from ostia.db.models import Amphora, LoadBalancer
from ostia.drivers.compute import AgentFiles, NetnsCompute
from ostia.drivers.fabric import MGMT_IFNAME, Fabric
from ostia.drivers.netns import ip_batch
from ostia.health.key import heartbeat_key
from ostia.network.hostnet import UnsafeNetwork

LOG = logging.getLogger(__name__)

# How long keepalived may take to give the VIP to one of a pair (its first election takes
# three adverts; booting keepalived itself is included).
VIP_OWNER_TIMEOUT = 15.0
POLL_INTERVAL = 0.05
# HAProxy refuses a UNIX socket path (its stats and master sockets, in the amphora's
# directory) longer than this.
MAX_SOCKET_PATH = 97


@dataclass
class _Amphora:
    """An amphora being converged: its row, its ports, its agent."""

    row: Amphora
    management: PortInfo
    vrrp: PortInfo
    members: list[MemberPort]
    stale_ports: list[str]
    client: AgentClient
    # ALLOCATED when this run began: what it runs is what the files the agent holds say.
    configured: bool
    # Being replaced by this failover: only told about its new peer, failures tolerated.
    doomed: bool

    @property
    def view(self) -> AmphoraView:
        return AmphoraView(
            id=self.row.id,
            role=str(self.row.role),
            vrrp_ip=self.vrrp.first.ip_address,
            vrrp_interface=VRRP_INTERFACE,
            priority=self.row.vrrp_priority or 100,
            management_ip=self.management.first.ip_address,
        )


class AmphoraProvider:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.dataplane = settings.dataplane
        amphora_dir = (
            Path(self.dataplane.amphora_dir)
            if self.dataplane.amphora_dir
            else settings.data_dir / "amphorae"
        )
        longest = len(str(amphora_dir.resolve() / str(uuid.UUID(int=0)) / "haproxy.sock"))
        if longest > MAX_SOCKET_PATH:
            raise ProviderUnavailable(
                f"the amphorae' directory {amphora_dir} is too long: HAProxy's sockets in it "
                f"would have {longest}-character paths, more than the {MAX_SOCKET_PATH} HAProxy "
                "takes; set a shorter [dataplane] amphora_dir"
            )
        try:
            management = ensure_management_network(db, self.dataplane.management_cidr)
        except UnsafeNetwork as exc:
            raise ProviderUnavailable(str(exc)) from exc
        self.fabric = Fabric(self.dataplane.prefix)
        self.fabric.ensure()
        controller = management.controller
        self.namespace = self.fabric.attach_controller(
            controller.plug, controller.first.address_cidr
        )
        # Where the agents send their heartbeats (the health manager listens there).
        self.management_address = controller.first.ip_address
        self.heartbeat_key = heartbeat_key(settings)
        self.ca = LocalCA.load_or_create(settings.data_dir / "ca")
        self.credentials = ClientCredentials(self.ca)
        self.compute = NetnsCompute(self.dataplane.prefix, amphora_dir, self.fabric)
        self.store = AmphoraStore(db, management.network_id, SERVICE_PROJECT_ID)
        # Runs of apply, failover and delete under way (the spare pool waits for them).
        self._runs = 0
        self._runs_lock = threading.Lock()
        # The agents' max_connections (their file descriptor limit), asked once per amphora.
        self._max_connections: dict[str, int] = {}

    @contextmanager
    def _run(self) -> Iterator[None]:
        with self._runs_lock:
            self._runs += 1
        try:
            yield
        finally:
            with self._runs_lock:
                self._runs -= 1

    def busy(self) -> bool:
        """Whether load balancers are being built, changed or deleted."""
        return self._runs > 0

    # -- the Provider protocol ---------------------------------------------------------------

    def apply(self, lb: LoadBalancer) -> None:
        with self._run():
            # Amphorae marked PENDING_DELETE (a failover of one of them, the delete of one in
            # ERROR, an interrupted run) give way to new ones of their roles.
            self._converge(
                lb,
                self.store.ensure_amphorae(lb),
                retiring=self.store.amphorae(lb.id, statuses=(PENDING_DELETE,)),
            )
            # An ERROR amphora whose delete was asked for meanwhile.
            self._remove(self.store.amphorae(lb.id, statuses=(PENDING_DELETE,)))

    def failover(self, lb: LoadBalancer) -> None:
        with self._run():
            # The standby first: the amphora most likely to hold the VIP goes last.
            old = sorted(
                self.store.amphorae(lb.id, statuses=LIVE), key=lambda a: a.vrrp_priority or 0
            )
            for index, amphora in enumerate(old):
                self.store.begin_replacement(lb, amphora)
                doomed = frozenset(a.id for a in old[index + 1 :])
                self._converge(lb, self.store.amphorae(lb.id, statuses=LIVE), doomed, [amphora])
            # Also builds the amphorae of a load balancer that had none, and removes those an
            # interrupted failover left PENDING_DELETE.
            self.apply(lb)

    def delete(self, lb: LoadBalancer) -> None:
        with self._run():
            self._remove(self.store.amphorae(lb.id))

    # -- converging ----------------------------------------------------------------------------

    def _converge(
        self,
        lb: LoadBalancer,
        rows: Sequence[Amphora],
        doomed: frozenset[str] = frozenset(),
        retiring: Sequence[Amphora] = (),
    ) -> None:
        """Build ``rows`` (but the ``doomed``), remove the ``retiring`` amphorae they replace,
        then pair them with keepalived: the survivor of a pair keeps the VIP meanwhile, and a
        retiring amphora still alive holds it no longer when the new pair elects its owner."""
        vip_subnets = self.store.subnets(
            [str(lb.vip.subnet_id), *(str(extra["subnet_id"]) for extra in lb.vip.additional)]
        )
        member_networks = self._member_networks(lb)
        amphorae = [self._prepare(lb, row, member_networks, row.id in doomed) for row in rows]
        views = [amphora.view for amphora in amphorae]
        building = [amphora for amphora in amphorae if not amphora.doomed]
        # The amphorae of a load balancer are independent until keepalived pairs them:
        # build them side by side.
        with ThreadPoolExecutor(max(1, len(building)), thread_name_prefix="amphora") as pool:
            for done in [pool.submit(self._build, lb, a, vip_subnets, views) for a in building]:
                done.result()
        self._remove(retiring)
        if lb.topology == constants.ACTIVE_STANDBY:
            self._vrrp(lb, amphorae, vip_subnets)
        for amphora in amphorae:
            if not amphora.doomed and amphora.row.status != ALLOCATED:
                self.store.set(amphora.row, status=ALLOCATED)

    def _member_networks(self, lb: LoadBalancer) -> dict[str, list[str]]:
        """network id → subnet ids of the members the amphorae must reach, other than the
        VIP network (reached through ``vip0``)."""
        subnet_ids = {
            member.subnet_id
            for pool in lb.pools
            if pool.provisioning_status != constants.PENDING_DELETE
            for member in pool.members
            if member.subnet_id and member.provisioning_status != constants.PENDING_DELETE
        }
        wanted: dict[str, list[str]] = defaultdict(list)
        for subnet in self.store.subnets(subnet_ids).values():
            if subnet.network_id != lb.vip.network_id:
                wanted[subnet.network_id].append(subnet.id)
        return wanted

    def _prepare(
        self, lb: LoadBalancer, row: Amphora, member_networks: dict[str, list[str]], doomed: bool
    ) -> _Amphora:
        """Pass 1: the amphora's ports, in the database."""
        management = self.store.management_port(row)
        vrrp = self.store.vrrp_port(row, lb)
        members = [] if doomed else self.store.member_ports(row, member_networks)
        stale = [] if doomed else self.store.stale_member_ports(row, member_networks)
        # An amphora being replaced may well be dead: one attempt.
        client = self._client(row, management, retry_for=0.0 if doomed else RETRY_FOR)
        configured = row.status == ALLOCATED
        return _Amphora(row, management, vrrp, members, stale, client, configured, doomed)

    def _client(
        self, row: Amphora, management: PortInfo, retry_for: float = RETRY_FOR
    ) -> AgentClient:
        return AgentClient(
            row.id,
            management.first.ip_address,
            tls=self.credentials.context,
            namespace=self.namespace,
            port=self.dataplane.agent_port,
            connect_timeout=self.dataplane.agent_timeout,
            retry_for=retry_for,
        )

    def _boot(self, lb: LoadBalancer, amphora: _Amphora) -> None:
        self._boot_agent(amphora.row, amphora.management, lb.topology)

    def _boot_agent(
        self, row: Amphora, management: PortInfo, topology: str, status: str = BOOTING
    ) -> None:
        """Start the amphora's agent (with a new server certificate), then record it."""
        certificate = self.ca.issue_server_certificate(
            row.id,
            management.first.ip_address,
            validity=datetime.timedelta(seconds=self.settings.certificates.cert_validity_time),
        )
        compute_id = self.compute.boot(
            row.id,
            management.plug,
            management.first.address_cidr,
            {
                "topology": topology,
                "bind_port": self.dataplane.agent_port,
                "heartbeat_key": self.heartbeat_key,
                "heartbeat_interval": self.settings.health.heartbeat_interval,
                "controller_ip_port_list": [
                    f"[{self.management_address}]:{self.settings.health.bind_port}"
                    if ":" in self.management_address
                    else f"{self.management_address}:{self.settings.health.bind_port}"
                ],
            },
            AgentFiles(certificate.bundle, self.ca.certificate_pem),
        )
        # The address may have belonged to a deleted amphora: the controller's namespace
        # would keep sending to that one's MAC until its neighbour entry expires.
        ip_batch(
            self.namespace, [f"neigh flush to {management.first.ip_address} dev {MGMT_IFNAME}"]
        )
        expires = expiration(certificate.certificate).replace(tzinfo=None)
        self.store.set(row, status=status, compute_id=compute_id, cert_expiration=expires)

    def _set_topology(self, lb: LoadBalancer, amphora: _Amphora) -> None:
        """A running amphora not booted for this load balancer (a claimed spare) is told the
        load balancer's topology (Octavia's agent configuration update)."""
        path = self.compute.directory(amphora.row.id) / "agent.json"
        config = json.loads(path.read_bytes())
        if config.get("topology") != lb.topology:
            amphora.client.update_config({**config, "topology": lb.topology})

    # -- spares ----------------------------------------------------------------------------------

    def boot_spare(self) -> str:
        """Boot an amphora for the spare pool: READY once its agent listens; its id."""
        row = self.store.new_spare()
        try:
            management = self.store.management_port(row)
            topology = self.settings.controller.loadbalancer_topology
            self._boot_agent(row, management, topology, status=BOOTING)
            # Asked now, not when a load balancer claims it.
            self._max_connections[row.id] = self._client(row, management).details()[
                "max_connections"
            ]
            self.store.set(row, status=READY)
        except Exception:
            self._remove([row])
            raise
        LOG.info("spare amphora %s booted", row.id)
        return row.id

    def remove_spares(self, rows: Sequence[Amphora]) -> None:
        """Remove spares (never claimed ones: the caller marked them PENDING_DELETE)."""
        self._remove(rows)

    def _build(
        self,
        lb: LoadBalancer,
        amphora: _Amphora,
        vip_subnets: dict[str, SubnetInfo],
        views: list[AmphoraView],
    ) -> None:
        """Pass 2: the amphora runs, its ports are plugged, HAProxy runs the tree."""
        row, client = amphora.row, amphora.client
        began = time.monotonic()
        # No compute id: a run killed during the boot started the agent, perhaps, but did
        # not record it (nor its certificate's expiry); booting again adopts that agent.
        if row.compute_id is None or self.compute.status(row.id) != "ACTIVE":
            self._boot(lb, amphora)
            amphora.configured = False
            LOG.info("amphora %s booted in %.2f s", row.id, time.monotonic() - began)
            client.wait_ready()
        else:
            client.wait_ready()
            if not amphora.configured:
                self._set_topology(lb, amphora)
        namespace = self.compute.namespace(row.id)
        self.fabric.plug(amphora.vrrp.plug, namespace, VRRP_INTERFACE)
        client.plug_vip(
            str(lb.vip.ip_address),
            {
                **vip_subnets[str(lb.vip.subnet_id)].agent_view(),
                "mac_address": amphora.vrrp.mac_address,
                "mtu": amphora.vrrp.mtu,
                "vrrp_ip": amphora.vrrp.first.ip_address,
                "additional_vips": [
                    vip_subnets[str(extra["subnet_id"])].address_view(str(extra["ip_address"]))
                    for extra in lb.vip.additional
                ],
            },
        )
        for port_id in amphora.stale_ports:
            self.fabric.unplug(port_id)
            self.store.delete_port(port_id)
        for member in amphora.members:
            self.fabric.plug(member.port.plug, namespace, member.ifname)
            client.plug_network(
                {
                    "mac_address": member.port.mac_address,
                    "mtu": member.port.mtu,
                    "fixed_ips": [
                        fixed.subnet.address_view(fixed.ip_address)
                        for fixed in member.port.fixed_ips
                    ],
                }
            )
        self._haproxy(lb, amphora, views)
        LOG.info(
            "amphora %s runs load balancer %s (%.2f s)", row.id, lb.id, time.monotonic() - began
        )

    def _render_settings(
        self, amphora: _Amphora, max_connections: int = HAPROXY_MAX_MAXCONN
    ) -> RenderSettings:
        haproxy = self.settings.haproxy
        return RenderSettings(
            base_dir=str(self.compute.directory(amphora.row.id)),
            max_connections=max_connections,
            default_connection_limit=haproxy.default_connection_limit,
            timeout_client_data=haproxy.timeout_client_data,
            timeout_member_connect=haproxy.timeout_member_connect,
            timeout_member_data=haproxy.timeout_member_data,
            timeout_tcp_inspect=haproxy.timeout_tcp_inspect,
            vrrp_advert_int=self.dataplane.vrrp_advert_int,
        )

    def _pending(self, row: Amphora) -> None:
        if row.status == ALLOCATED:
            self.store.set(row, status=PENDING_UPDATE)

    def _haproxy(self, lb: LoadBalancer, amphora: _Amphora, views: list[AmphoraView]) -> None:
        row, client = amphora.row, amphora.client
        current = None
        if amphora.configured or row.id not in self._max_connections:
            details = client.details()
            self._max_connections[row.id] = details["max_connections"]
            if amphora.configured and details.get("haproxy_count"):
                current = client.get_haproxy(lb.id)
        config = render_haproxy(
            lb,
            views,
            settings=self._render_settings(amphora, self._max_connections[row.id]),
        )
        if current == config:
            return
        commands = runtime_commands(current, config) if current is not None else None
        self._pending(row)
        client.upload_haproxy(lb.id, config)
        if commands is None:
            client.haproxy(lb.id, "reload")
        elif commands:
            client.runtime(lb.id, commands)

    # -- keepalived ----------------------------------------------------------------------------

    def _vrrp(
        self, lb: LoadBalancer, amphorae: list[_Amphora], vip_subnets: dict[str, SubnetInfo]
    ) -> None:
        """Pass 3 (ACTIVE_STANDBY): each amphora's keepalived, MASTER first (the round trip
        to the BACKUP's agent gives it a head start on the first election), then wait until
        one of them owns the VIP."""
        subnets = {
            subnet.id: SubnetView(subnet.cidr, subnet.gateway_ip, subnet.host_routes)
            for subnet in vip_subnets.values()
        }
        if len(amphorae) != 2:
            raise ValueError(f"load balancer {lb.id} has {len(amphorae)} amphorae, not a pair")
        began = time.monotonic()
        started = False
        for amphora, peer in zip(amphorae, reversed(amphorae), strict=True):
            config = render_keepalived(
                lb,
                amphora.view,
                peer.view,
                subnets=subnets,
                settings=self._render_settings(amphora),
            )
            with self._tolerated(amphora):
                started = self._keepalived(amphora, config) or started
        if started:
            self._wait_for_vip_owner(lb, amphorae)
        LOG.info("load balancer %s: VRRP pair up in %.2f s", lb.id, time.monotonic() - began)

    def _keepalived(self, amphora: _Amphora, config: str) -> bool:
        """Upload and (re)start keepalived unless it runs ``config`` already."""
        running = self.compute.directory(amphora.row.id) / "keepalived.conf"
        if amphora.configured and _read(running) == config:
            return False
        self._pending(amphora.row)
        amphora.client.upload_vrrp(config)
        amphora.client.vrrp("start")
        return True

    def _wait_for_vip_owner(self, lb: LoadBalancer, amphorae: list[_Amphora]) -> None:
        vip = str(lb.vip.ip_address)
        deadline = time.monotonic() + VIP_OWNER_TIMEOUT
        while time.monotonic() < deadline:
            for amphora in amphorae:
                with self._tolerated(amphora):
                    if amphora.client.interface(vip) is not None:
                        return
            time.sleep(POLL_INTERVAL)
        raise AgentError(
            ", ".join(a.row.id for a in amphorae),
            "keepalived",
            None,
            f"no amphora took the VIP {vip} within {VIP_OWNER_TIMEOUT:g} s",
        )

    @contextmanager
    def _tolerated(self, amphora: _Amphora) -> Iterator[None]:
        """Errors of an amphora this failover replaces anyway are logged, not raised."""
        try:
            yield
        except AgentError as exc:
            if not amphora.doomed:
                raise
            LOG.warning("amphora %s, being replaced: %s", amphora.row.id, exc)

    # -- removing ------------------------------------------------------------------------------

    def _remove(self, rows: Sequence[Amphora]) -> None:
        for row in rows:
            self.compute.delete(row.id)
            self.store.release(row)
            self._max_connections.pop(row.id, None)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
