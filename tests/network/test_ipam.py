"""IPAM on each database: Neutron's default gateway and pools, first free addresses, never
one address twice (also for concurrent transactions), requested addresses, exhaustion,
addresses given back, and the release of a load balancer's VIP ports."""

from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ostia.db.engine import Database
from ostia.network import ipam, ports, subnets
from ostia.network.errors import (
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
)
from ostia.network.models import IPAllocation, Network, Port, Subnet
from tests.conftest import empty_tables


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    empty_tables(database)
    yield database


def make_subnet(db: Database, cidr: str) -> str:
    with db.write() as session:
        network = Network(id=str(uuid.uuid4()), project_id="p", subnets=[])
        session.add(network)
        session.flush()
        version = ipaddress.ip_network(cidr).version
        subnet = subnets.new_subnet(
            network, {"cidr": cidr, "ip_version": version, "project_id": "p"}
        )
        session.add(subnet)
        return subnet.id


def new_port(session: Session, subnet_id: str, **fields: str) -> Port:
    subnet = session.get_one(Subnet, subnet_id)
    return ports.create_port(
        session, subnet.network, ports.PortSpec(project_id="p", fixed_ips=[], **fields)
    )


def allocate(db: Database, subnet_id: str, address: str | None = None) -> str:
    """One address in a transaction of its own."""
    with db.write() as session:
        port = new_port(session, subnet_id)
        return ipam.allocate(session, session.get_one(Subnet, subnet_id), port, address)


def pools(cidr: str, gateway: str | None = "default") -> list[str]:
    network = ipaddress.ip_network(cidr)
    chosen = ipam.default_gateway(network) if gateway == "default" else gateway
    return [str(pool) for pool in ipam.default_pools(network, chosen)]


def test_default_gateway_and_pools() -> None:
    assert ipam.default_gateway(ipaddress.ip_network("10.0.0.0/24")) == "10.0.0.1"
    assert pools("10.0.0.0/24") == ["10.0.0.2-10.0.0.254"]
    assert pools("10.0.0.0/30") == ["10.0.0.2-10.0.0.2"]
    assert pools("10.0.0.0/31") == ["10.0.0.0-10.0.0.0"]
    assert pools("10.0.0.0/31", None) == ["10.0.0.0-10.0.0.1"]
    assert pools("10.0.0.7/32") == ["10.0.0.7-10.0.0.7"]
    assert pools("10.0.0.0/24", "10.0.0.254") == ["10.0.0.1-10.0.0.253"]
    assert pools("10.0.0.0/24", "192.0.2.1") == ["10.0.0.1-10.0.0.254"]
    assert ipam.default_gateway(ipaddress.ip_network("2001:db8::/64")) == "2001:db8::"
    assert pools("2001:db8::/126") == ["2001:db8::1-2001:db8::3"]
    assert pools("2001:db8::/126", "2001:db8::2") == [
        "2001:db8::1-2001:db8::1",
        "2001:db8::3-2001:db8::3",
    ]


def test_addresses_are_handed_out_in_order_and_never_twice(db: Database) -> None:
    subnet_id = make_subnet(db, "10.50.0.0/28")  # .2 to .14
    handed = [allocate(db, subnet_id) for _ in range(13)]
    assert handed == [f"10.50.0.{i}" for i in range(2, 15)]
    with pytest.raises(IpAddressGenerationFailure) as caught:
        allocate(db, subnet_id)
    assert caught.value.code == 409
    assert caught.value.message == f"No more IP addresses available for subnet {subnet_id}."
    with db.read() as session:
        assert ipam.free_addresses(session, session.get_one(Subnet, subnet_id)) == 0


def test_requested_address_and_what_is_refused(db: Database) -> None:
    subnet_id = make_subnet(db, "10.51.0.0/24")
    assert allocate(db, subnet_id, "10.51.0.77") == "10.51.0.77"
    with pytest.raises(IpAddressAlreadyAllocated) as taken:
        allocate(db, subnet_id, "10.51.0.77")
    assert (taken.value.code, taken.value.message) == (
        409,
        f"IP address 10.51.0.77 already allocated in subnet {subnet_id}",
    )
    for outside in ("10.52.0.1", "10.51.0.0", "10.51.0.255", "2001:db8::1"):
        with pytest.raises(InvalidIpForSubnet) as invalid:
            allocate(db, subnet_id, outside)
        assert invalid.value.code == 400
    assert allocate(db, subnet_id) == "10.51.0.2"
    with db.read() as session:
        assert ipam.free_addresses(session, session.get_one(Subnet, subnet_id)) == 251


def test_ipv6(db: Database) -> None:
    subnet_id = make_subnet(db, "2001:db8:52::/64")
    assert [allocate(db, subnet_id) for _ in range(3)] == [
        "2001:db8:52::1",
        "2001:db8:52::2",
        "2001:db8:52::3",
    ]
    assert allocate(db, subnet_id, "2001:DB8:52:0:0::ff") == "2001:db8:52::ff"
    with pytest.raises(IpAddressAlreadyAllocated):
        allocate(db, subnet_id, "2001:db8:52::00ff")
    with pytest.raises(InvalidIpForSubnet):
        allocate(db, subnet_id, "2001:db8:52::")


def test_deleting_a_port_gives_its_addresses_back(db: Database) -> None:
    subnet_id = make_subnet(db, "10.53.0.0/29")
    first, second = allocate(db, subnet_id), allocate(db, subnet_id)
    assert (first, second) == ("10.53.0.2", "10.53.0.3")
    with db.write() as session:
        allocation = session.get_one(IPAllocation, (subnet_id, first))
        session.delete(allocation.port)
    assert allocate(db, subnet_id) == "10.53.0.2"


def test_release_load_balancer_ports(db: Database) -> None:
    subnet_id = make_subnet(db, "10.54.0.0/24")
    lb_id = str(uuid.uuid4())
    with db.write() as session:
        subnet = session.get_one(Subnet, subnet_id)
        vip = new_port(
            session,
            subnet_id,
            device_id=ipam.load_balancer_device_id(lb_id),
            device_owner=ipam.LOAD_BALANCER_PORT_OWNER,
        )
        ipam.allocate(session, subnet, vip, "10.54.0.10")
        ipam.allocate(session, subnet, vip, "10.54.0.11")
        users = new_port(session, subnet_id, device_id=ipam.load_balancer_device_id(lb_id))
        ipam.allocate(session, subnet, users, "10.54.0.12")
        vip_id, users_id = vip.id, users.id
    with db.write() as session:
        ipam.release_load_balancer_ports(session, lb_id)
    with db.read() as session:
        assert session.get(Port, vip_id) is None
        assert session.get(Port, users_id) is not None
        left = session.scalars(select(IPAllocation.ip_address)).all()
        assert left == ["10.54.0.12"]
    assert allocate(db, subnet_id, "10.54.0.10") == "10.54.0.10"


def test_concurrent_transactions_never_share_an_address(db: Database) -> None:
    """Threads (each its own transactions, as separate API processes would be) empty a small
    subnet together: every address is handed out exactly once."""
    subnet_id = make_subnet(db, "10.55.0.0/27")  # 29 addresses
    handed: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        while True:
            try:
                address = allocate(db, subnet_id)
            except IpAddressGenerationFailure:
                return
            except BaseException as exc:  # reported below, with the thread's error
                failures.append(exc)
                return
            with lock:
                handed.append(address)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert len(handed) == len(set(handed)) == 29
    assert set(handed) == {f"10.55.0.{i}" for i in range(2, 31)}
    with db.read() as session:
        rows = session.scalar(select(func.count()).select_from(IPAllocation))
    assert rows == 29


def test_a_transaction_that_lost_the_race_takes_the_next_address(db: Database) -> None:
    """The first transaction holds 10.56.0.2 uncommitted while the second looks for a free
    address; the second must end with 10.56.0.3, not a duplicate nor an error."""
    subnet_id = make_subnet(db, "10.56.0.0/29")
    first_holds = threading.Event()
    results: dict[str, str] = {}

    def first() -> None:
        with db.write() as session:
            port = new_port(session, subnet_id)
            results["first"] = ipam.allocate(session, session.get_one(Subnet, subnet_id), port)
            first_holds.set()
            time.sleep(0.5)

    def second() -> None:
        first_holds.wait(timeout=10)
        results["second"] = allocate(db, subnet_id)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == {"first": "10.56.0.2", "second": "10.56.0.3"}
