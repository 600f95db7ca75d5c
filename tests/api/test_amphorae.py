"""The amphora admin API (``/v2/octavia/amphorae``): Octavia's fields, filters, sorting and
pages; show; a failover, a configuration push and the delete of an ERROR amphora recorded as
desired state (the load balancer PENDING_UPDATE, the amphora marked); 404, 409 and 403.

The noop provider builds no amphora: the rows are written here as the amphora provider would.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ostia.api.schemas.amphora import AmphoraResponse
from ostia.config import Settings
from ostia.db.models import Amphora, AmphoraHealth, utcnow
from tests.conftest import Ostia
from tests.helpers import OTHER_PROJECT, PROJECT, Api, create_lb, expect, fault, wait_for_lb

AMPHORAE = "/v2/octavia/amphorae"
FORBIDDEN = "Policy does not allow this request to be performed."


def add_amphora(ostia: Ostia, lb: dict[str, Any], role: str, **fields: Any) -> str:
    amphora_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": amphora_id,
        "load_balancer_id": lb["id"],
        "compute_id": f"dp-a{amphora_id[:12]}",
        "status": "ALLOCATED",
        "role": role,
        "lb_network_ip": "10.243.0.11",
        "vrrp_ip": "10.243.1.11",
        "ha_ip": lb["vip_address"],
        "vrrp_port_id": str(uuid.uuid4()),
        "ha_port_id": lb["vip_port_id"],
        "vrrp_interface": "vip0",
        "vrrp_id": 1,
        "vrrp_priority": {"MASTER": 100, "BACKUP": 90}.get(role),
        "cert_expiration": datetime(2027, 1, 2, 3, 4, 5),
        **fields,
    }
    with ostia.db.write() as session:
        session.add(Amphora(**values))
    return amphora_id


def amphora_row(ostia: Ostia, amphora_id: str) -> Amphora:
    with ostia.db.read() as session:
        return session.get_one(Amphora, amphora_id)


@pytest.fixture
def pair(ostia: Ostia, api: Api) -> tuple[dict[str, Any], str, str]:
    """A load balancer of PROJECT with a MASTER and a BACKUP amphora: (lb, master, backup)."""
    lb = create_lb(api)
    return lb, add_amphora(ostia, lb, "MASTER"), add_amphora(ostia, lb, "BACKUP")


def test_list_and_show_with_octavia_fields_filters_sorting_and_pages(
    ostia: Ostia, api: Api, pair: tuple[dict[str, Any], str, str]
) -> None:
    lb, master, backup = pair
    other_lb = create_lb(api.as_user(OTHER_PROJECT, "admin"), project_id=OTHER_PROJECT)
    single = add_amphora(ostia, other_lb, "STANDALONE", vrrp_priority=None)
    add_amphora(ostia, lb, "MASTER", status="DELETED")  # replaced long ago: not shown

    found = expect(api.get(AMPHORAE), 200)
    assert found["amphorae_links"] == []
    assert sorted(a["id"] for a in found["amphorae"]) == sorted([master, backup, single])
    shown = expect(api.get(f"{AMPHORAE}/{master}"), 200)["amphora"]
    assert set(shown) == set(AmphoraResponse.model_fields)
    row = amphora_row(ostia, master)
    assert shown == {
        "id": master,
        "loadbalancer_id": lb["id"],
        "compute_id": row.compute_id,
        "lb_network_ip": "10.243.0.11",
        "vrrp_ip": "10.243.1.11",
        "ha_ip": lb["vip_address"],
        "vrrp_port_id": row.vrrp_port_id,
        "ha_port_id": lb["vip_port_id"],
        "cert_expiration": "2027-01-02T03:04:05",
        "cert_busy": False,
        "role": "MASTER",
        "status": "ALLOCATED",
        "vrrp_interface": "vip0",
        "vrrp_id": 1,
        "vrrp_priority": 100,
        "cached_zone": None,
        "created_at": row.created_at.isoformat(),
        "updated_at": None,
        "image_id": None,
        "compute_flavor": None,
    }
    assert shown in found["amphorae"]

    def ids(query: str) -> list[str]:
        return [a["id"] for a in expect(api.get(f"{AMPHORAE}?{query}"), 200)["amphorae"]]

    assert sorted(ids(f"loadbalancer_id={lb['id']}")) == sorted([master, backup])
    assert ids("role=STANDALONE") == [single]
    assert ids(f"project_id={OTHER_PROJECT}") == [single]
    assert sorted(ids("role=MASTER&role=BACKUP")) == sorted([master, backup])
    assert ids("vrrp_priority=90") == [backup]
    assert ids("status=DELETED") == []
    assert ids("sort=role:desc") == [single, master, backup]
    assert ids("sort_key=vrrp_priority&sort_dir=desc&loadbalancer_id=" + lb["id"]) == [
        master,
        backup,
    ]
    assert expect(api.get(f"{AMPHORAE}?fields=id&fields=role&role=BACKUP"), 200)["amphorae"] == [
        {"id": backup, "role": "BACKUP"}
    ]
    assert expect(api.get(f"{AMPHORAE}/{backup}?fields=status"), 200)["amphora"] == {
        "status": "ALLOCATED"
    }

    page = expect(api.get(f"{AMPHORAE}?sort=role:asc&limit=1"), 200)
    assert [a["id"] for a in page["amphorae"]] == [backup]
    (following,) = page["amphorae_links"]
    assert following["rel"] == "next"
    query = parse_qs(urlsplit(following["href"]).query)
    assert query["marker"] == [backup]
    second = expect(api.get(f"{AMPHORAE}?sort=role:asc&limit=1&marker={backup}"), 200)
    assert [a["id"] for a in second["amphorae"]] == [master]

    fault(api.get(f"{AMPHORAE}?no_such_field=1"), 400)
    fault(api.get(f"{AMPHORAE}?sort=nothing:asc"), 400)


def test_unknown_and_deleted_amphorae_are_not_found(
    ostia: Ostia, api: Api, pair: tuple[dict[str, Any], str, str]
) -> None:
    lb, _, _ = pair
    gone = add_amphora(ostia, lb, "MASTER", status="DELETED")
    unknown = str(uuid.uuid4())
    for amphora_id in (gone, unknown):
        message = f"Amphora {amphora_id} not found."
        assert fault(api.get(f"{AMPHORAE}/{amphora_id}"), 404) == message
        assert fault(api.put(f"{AMPHORAE}/{amphora_id}/failover"), 404) == message
        assert fault(api.put(f"{AMPHORAE}/{amphora_id}/config"), 404) == message
        assert fault(api.delete(f"{AMPHORAE}/{amphora_id}"), 404) == message


def test_only_admins_may_use_the_amphora_api(
    ostia: Ostia, api: Api, pair: tuple[dict[str, Any], str, str]
) -> None:
    lb, master, _ = pair
    add_amphora(ostia, lb, "MASTER", status="ERROR")
    for roles in ("member", "reader", "load-balancer_global_observer", "load-balancer_member"):
        user = api.as_user(PROJECT, roles)
        for response in (
            user.get(AMPHORAE),
            user.get(f"{AMPHORAE}/{master}"),
            user.put(f"{AMPHORAE}/{master}/config"),
            user.put(f"{AMPHORAE}/{master}/failover"),
            user.delete(f"{AMPHORAE}/{master}"),
        ):
            assert fault(response, 403) == FORBIDDEN, roles
    assert amphora_row(ostia, master).status == "ALLOCATED"
    assert (
        expect(api.get(f"/v2/lbaas/loadbalancers/{lb['id']}"), 200)["loadbalancer"][
            "provisioning_status"
        ]
        == "ACTIVE"
    )
    for roles in ("admin", "load-balancer_admin"):
        expect(api.as_user(OTHER_PROJECT, roles).get(f"{AMPHORAE}/{master}"), 200)


def lb_status(api: Api, lb_id: str) -> str:
    lb = expect(api.get(f"/v2/lbaas/loadbalancers/{lb_id}"), 200)["loadbalancer"]
    return str(lb["provisioning_status"])


@pytest.fixture
def slow(settings: Settings) -> None:
    """The noop provider takes a while: the load balancer stays PENDING_UPDATE meanwhile."""
    settings.controller.noop_step_delay = 1.0


def test_failover_marks_the_amphora_for_replacement_and_locks_its_load_balancer(
    slow: None, ostia: Ostia, api: Api, pair: tuple[dict[str, Any], str, str]
) -> None:
    lb, master, backup = pair
    with ostia.db.write() as session:
        session.add(AmphoraHealth(amphora_id=master, last_update=utcnow(), busy=False))

    assert expect(api.put(f"{AMPHORAE}/{master}/failover"), 202) is None
    assert lb_status(api, lb["id"]) == "PENDING_UPDATE"
    assert expect(api.get(f"{AMPHORAE}/{master}"), 200)["amphora"]["status"] == "PENDING_DELETE"
    with ostia.db.read() as session:
        assert session.get_one(AmphoraHealth, master).busy
    # While its load balancer is busy, no amphora of it can be failed over or configured.
    immutable = f"Load Balancer {lb['id']} is immutable and cannot be updated."
    assert fault(api.put(f"{AMPHORAE}/{backup}/failover"), 409) == immutable
    assert fault(api.put(f"{AMPHORAE}/{backup}/config"), 409) == immutable
    assert amphora_row(ostia, backup).status == "ALLOCATED"
    wait_for_lb(api, lb["id"])


def test_config_marks_the_amphora_for_a_push(
    slow: None, ostia: Ostia, api: Api, pair: tuple[dict[str, Any], str, str]
) -> None:
    lb, master, backup = pair
    assert expect(api.put(f"{AMPHORAE}/{backup}/config"), 202) is None
    assert lb_status(api, lb["id"]) == "PENDING_UPDATE"
    assert amphora_row(ostia, backup).status == "PENDING_UPDATE"
    assert amphora_row(ostia, master).status == "ALLOCATED"
    wait_for_lb(api, lb["id"])


def test_only_an_amphora_in_error_can_be_deleted(
    slow: None, ostia: Ostia, api: Api, pair: tuple[dict[str, Any], str, str]
) -> None:
    lb, master, _ = pair
    broken = add_amphora(ostia, lb, "MASTER", status="ERROR")
    immutable = f"Amphora {master} is immutable and cannot be updated."
    assert fault(api.delete(f"{AMPHORAE}/{master}"), 409) == immutable
    assert lb_status(api, lb["id"]) == "ACTIVE"

    assert expect(api.delete(f"{AMPHORAE}/{broken}"), 204) is None
    assert amphora_row(ostia, broken).status == "PENDING_DELETE"
    assert lb_status(api, lb["id"]) == "PENDING_UPDATE"
    wait_for_lb(api, lb["id"])
    assert amphora_row(ostia, master).status == "ALLOCATED"
