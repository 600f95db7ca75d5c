"""openstacksdk against Ostia: the network proxy for the subnets, the load_balancer proxy for
a whole load balancer, its waits, statistics, and the cascade delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openstack
import pytest
from openstack import exceptions
from openstack.connection import Connection

from tests.e2e.conftest import ADMIN_PASSWORD, Server

pytestmark = pytest.mark.slow

# The SDK polls every 2 s unless told otherwise; Ostia's noop data plane takes milliseconds.
WAIT: dict[str, Any] = {"interval": 0.1, "wait": 60}


@pytest.fixture(scope="module")
def conn(server: Server) -> Iterator[Connection]:
    connection = openstack.connect(
        auth_url=server.auth_url,
        username="admin",
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
        load_yaml_config=False,
        load_envvars=False,
    )
    try:
        yield connection
    finally:
        connection.close()


@pytest.fixture(scope="module")
def subnets(conn: Connection) -> dict[str, Any]:
    vip_net = conn.network.create_network(name="lb-vip-net")
    web_net = conn.network.create_network(name="web-server-net")
    return {
        "lb-vip-subnet": conn.network.create_subnet(
            name="lb-vip-subnet", network_id=vip_net.id, ip_version=4, cidr="10.241.0.0/24"
        ),
        "web-server-subnet": conn.network.create_subnet(
            name="web-server-subnet", network_id=web_net.id, ip_version=4, cidr="192.168.1.0/24"
        ),
    }


def test_load_balancer_tree(conn: Connection, subnets: dict[str, Any]) -> None:
    lbs = conn.load_balancer
    vip, web = subnets["lb-vip-subnet"], subnets["web-server-subnet"]
    lb = lbs.create_load_balancer(name="sdk-lb", vip_subnet_id=vip.id, tags=["sdk"])
    assert lb.provisioning_status == "PENDING_CREATE"
    lb = lbs.wait_for_load_balancer(lb.id, **WAIT)
    assert lb.provisioning_status == "ACTIVE"
    assert lb.vip_address.startswith("10.241.0.") and lb.vip_port_id

    listener = lbs.create_listener(
        name="sdk-listener", loadbalancer_id=lb.id, protocol="HTTP", protocol_port=80
    )
    lbs.wait_for_load_balancer(lb.id, **WAIT)
    pool = lbs.create_pool(
        name="sdk-pool", listener_id=listener.id, protocol="HTTP", lb_algorithm="ROUND_ROBIN"
    )
    lbs.wait_for_load_balancer(lb.id, **WAIT)
    member = lbs.create_member(
        pool, name="web-1", address="192.168.1.30", protocol_port=80, subnet_id=web.id
    )
    lbs.wait_for_load_balancer(lb.id, **WAIT)
    monitor = lbs.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=5, timeout=3, max_retries=2, url_path="/health"
    )
    lbs.wait_for_load_balancer(lb.id, **WAIT)
    policy = lbs.create_l7_policy(listener_id=listener.id, action="REJECT", name="deny")
    lbs.wait_for_load_balancer(lb.id, **WAIT)
    rule = lbs.create_l7_rule(policy, type="PATH", compare_type="STARTS_WITH", value="/admin")
    lbs.wait_for_load_balancer(lb.id, **WAIT)

    lb = lbs.get_load_balancer(lb.id)
    assert lb.listeners == [{"id": listener.id}] and lb.pools == [{"id": pool.id}]
    assert lbs.get_pool(pool.id).health_monitor_id == monitor.id
    assert [m.id for m in lbs.members(pool)] == [member.id]
    assert lbs.get_member(member, pool).subnet_id == web.id
    assert lbs.get_health_monitor(monitor).url_path == "/health"
    assert [r.id for r in lbs.l7_rules(policy)] == [rule.id]
    assert lbs.find_l7_policy("deny").id == policy.id
    assert [found.id for found in lbs.load_balancers(tags="sdk")] == [lb.id]

    stats = lbs.get_load_balancer_statistics(lb.id)
    assert (stats.total_connections, stats.bytes_in, stats.request_errors) == (0, 0, 0)
    assert lbs.get_listener_statistics(listener.id).active_connections == 0

    lbs.update_load_balancer(lb, description="changed")
    lb = lbs.wait_for_load_balancer(lb.id, **WAIT)
    assert lb.description == "changed"
    lbs.failover_load_balancer(lb.id)
    assert lbs.wait_for_load_balancer(lb.id, **WAIT).provisioning_status == "ACTIVE"

    lbs.delete_load_balancer(lb, cascade=True)
    lbs.wait_for_delete(lb, **WAIT)
    assert lbs.find_load_balancer("sdk-lb") is None
    assert list(lbs.listeners(loadbalancer_id=lb.id)) == []
    # The VIP port went with the load balancer.
    assert list(conn.network.ports(fixed_ips=f"subnet_id={vip.id}")) == []


def test_deleting_a_load_balancer_with_children_needs_cascade(
    conn: Connection, subnets: dict[str, Any]
) -> None:
    lbs = conn.load_balancer
    lb = lbs.create_load_balancer(name="sdk-parent", vip_subnet_id=subnets["lb-vip-subnet"].id)
    lbs.wait_for_load_balancer(lb.id, **WAIT)
    lbs.create_pool(
        loadbalancer_id=lb.id, protocol="TCP", lb_algorithm="SOURCE_IP", name="sdk-child"
    )
    lbs.wait_for_load_balancer(lb.id, **WAIT)

    with pytest.raises(exceptions.BadRequestException) as refused:
        lbs.delete_load_balancer(lb)
    assert f"Cannot delete Load Balancer {lb.id} - it has children" in str(refused.value)
    with pytest.raises(exceptions.NotFoundException):
        lbs.get_load_balancer("00000000-0000-0000-0000-000000000000")

    lbs.delete_load_balancer(lb, cascade=True)
    lbs.wait_for_delete(lb, **WAIT)
    assert lbs.find_pool("sdk-child") is None


def test_quotas_providers_and_flavors(conn: Connection) -> None:
    lbs = conn.load_balancer
    project_id = conn.current_project_id
    assert lbs.get_quota_default().load_balancers == -1
    lbs.update_quota(project_id, load_balancers=3, listeners=4)
    quota = lbs.get_quota(project_id)
    assert (quota.load_balancers, quota.listeners, quota.pools) == (3, 4, -1)
    lbs.delete_quota(project_id)
    assert lbs.get_quota(project_id).load_balancers == -1

    assert {p.name for p in lbs.providers()} == {"amphora", "octavia"}
    capabilities = {c.name for c in lbs.provider_flavor_capabilities("amphora")}
    assert "loadbalancer_topology" in capabilities

    profile = lbs.create_flavor_profile(
        name="sdk-profile",
        provider_name="amphora",
        flavor_data='{"loadbalancer_topology": "SINGLE"}',
    )
    flavor = lbs.create_flavor(name="sdk-flavor", flavor_profile_id=profile.id, enabled=True)
    assert lbs.find_flavor("sdk-flavor").flavor_profile_id == profile.id
    lbs.delete_flavor(flavor)
    lbs.delete_flavor_profile(profile)
    assert list(lbs.flavors()) == [] and list(lbs.flavor_profiles()) == []
