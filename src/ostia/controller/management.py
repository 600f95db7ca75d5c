"""The management network: how the controller reaches its amphorae' agents.

It is a network of Ostia's own network service, ``lb-mgmt-net`` with one subnet
(``[dataplane] management_cidr``, which must not overlap anything of this machine), owned by
Ostia's service project, as Octavia's operators create theirs in Neutron. The controller has a
port on it (``ostia-controller``) whose address lives in the controller's namespace
(``<prefix>-ctl``); every amphora gets a port on it too.

The network's id is fixed, so that controllers starting together create it once: the second
one's insert fails and it reads the first one's.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ostia.controller.amphora_store import PortInfo, SubnetInfo, create_port
from ostia.controller.provider import ProviderUnavailable
from ostia.db.engine import Database
from ostia.network import subnets
from ostia.network.hostnet import check_disjoint
from ostia.network.models import Network, Port

# The project owning what Ostia itself creates on its networks (Octavia's service project).
SERVICE_PROJECT_ID = uuid.uuid5(uuid.NAMESPACE_URL, "ostia:service-project").hex
NETWORK_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "ostia:lb-mgmt-net"))
NETWORK_NAME = "lb-mgmt-net"
SUBNET_NAME = "lb-mgmt-subnet"
CONTROLLER_PORT_NAME = "ostia-controller"


class ManagementNetworkError(ProviderUnavailable):
    """The management network cannot be set up as configured."""


@dataclass(frozen=True)
class ManagementNetwork:
    network_id: str
    subnet: SubnetInfo
    controller: PortInfo


def ensure_management_network(db: Database, cidr: str) -> ManagementNetwork:
    """The management network with its subnet and the controller's port, created if missing.

    Raises ``UnsafeNetwork`` when ``cidr`` overlaps this machine's networks, and
    ``ManagementNetworkError`` when the network exists with another subnet.
    """
    network = ipaddress.ip_network(cidr)
    check_disjoint(str(network), "the management network ([dataplane] management_cidr)")
    try:
        with db.write() as session:
            return _ensure(session, network)
    except IntegrityError:  # another controller created it meanwhile
        with db.write() as session:
            return _ensure(session, network)


def _ensure(
    session: Session, cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> ManagementNetwork:
    network = session.get(Network, NETWORK_ID, with_for_update=True)
    if network is None:
        network = Network(id=NETWORK_ID, project_id=SERVICE_PROJECT_ID, name=NETWORK_NAME)
        session.add(network)
        subnet = subnets.new_subnet(
            network,
            {
                "project_id": SERVICE_PROJECT_ID,
                "name": SUBNET_NAME,
                "ip_version": cidr.version,
                "cidr": str(cidr),
                "gateway_ip": None,
                "enable_dhcp": False,
            },
        )
        network.subnets.append(subnet)
        session.flush()
    found = [s.cidr for s in network.subnets]
    if found != [str(cidr)]:
        raise ManagementNetworkError(
            f"{NETWORK_NAME} ({NETWORK_ID}) has the subnet(s) {', '.join(found) or 'none'}, "
            f"not {cidr} as [dataplane] management_cidr says: change the setting back, or "
            "delete the network and its ports once no amphora uses them"
        )
    port = session.scalar(
        select(Port).where(Port.network_id == NETWORK_ID, Port.name == CONTROLLER_PORT_NAME)
    )
    if port is None:
        port = create_port(
            session, NETWORK_ID, SERVICE_PROJECT_ID, CONTROLLER_PORT_NAME, CONTROLLER_PORT_NAME
        )
    return ManagementNetwork(
        NETWORK_ID, SubnetInfo.of(network.subnets[0]), PortInfo.of(session, port)
    )
