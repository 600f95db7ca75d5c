"""The ``openstack`` command (python-openstackclient with python-octaviaclient) against Ostia:
identity, networks, and every load-balancer command a user has."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, OTHER_PASSWORD, Cli, Server

pytestmark = pytest.mark.slow

VIP_RANGE = "10.240.0.0/24"
WEB_RANGE = "192.168.1.0/24"


def names(rows: list[dict[str, Any]]) -> set[str]:
    return {row["name"] for row in rows}


@pytest.fixture(scope="module")
def subnets(cli: Cli) -> dict[str, dict[str, Any]]:
    """The networks of the issue: ``lb-vip-subnet`` and ``web-server-subnet``."""
    vip_net, vip, web_net, web = cli.batch(
        "network create lb-vip-net -f json",
        f"subnet create --network lb-vip-net --subnet-range {VIP_RANGE} lb-vip-subnet -f json",
        "network create web-server-net -f json",
        f"subnet create --network web-server-net --subnet-range {WEB_RANGE} web-server-subnet"
        " -f json",
    )
    assert vip["network_id"] == vip_net["id"] and web["network_id"] == web_net["id"]
    return {"lb-vip-subnet": vip, "web-server-subnet": web}


def test_identity_and_network_commands(
    cli: Cli, server: Server, subnets: dict[str, dict[str, Any]]
) -> None:
    # The issue's first command: every option on the command line, no clouds.yaml.
    options = (
        f"--os-auth-url {server.auth_url} --os-username admin --os-password {ADMIN_PASSWORD}"
        " --os-project-name admin --os-user-domain-name Default --os-project-domain-name Default"
    )
    done = cli.process(shlex.split(f"{options} subnet list -f json"), cloud=False)
    assert done.returncode == 0, done.stderr
    listed = {row["Name"]: row for row in json.loads(done.stdout)}
    assert listed["lb-vip-subnet"]["Subnet"] == VIP_RANGE
    assert listed["web-server-subnet"]["Subnet"] == WEB_RANGE
    assert listed["web-server-subnet"]["ID"] == subnets["web-server-subnet"]["id"]

    token, projects, networks = cli.batch(
        "token issue -f json", "project list -f json", "network list -f json"
    )
    assert set(token) == {"expires", "id", "project_id", "user_id"}
    assert [p["Name"] for p in projects] == ["admin"]
    assert token["project_id"] == projects[0]["ID"]
    assert {n["Name"] for n in networks} == {"lb-vip-net", "web-server-net"}


def test_issue_commands_as_written(cli: Cli, subnets: dict[str, dict[str, Any]]) -> None:
    lb = cli.run("loadbalancer create --vip-subnet-id lb-vip-subnet --name lb1 --wait -f json")
    assert lb["provisioning_status"] == "ACTIVE"
    assert lb["vip_subnet_id"] == subnets["lb-vip-subnet"]["id"]
    assert lb["vip_address"].startswith("10.240.0.")
    listener = cli.run(
        "loadbalancer listener create --protocol HTTP --protocol-port 8080 --name l1 lb1 -f json"
    )
    assert listener["loadbalancers"] == [{"id": lb["id"]}]
    pool = cli.run(
        "loadbalancer pool create --lb-algorithm ROUND_ROBIN --listener l1 --protocol HTTP"
        " --name p1 -f json"
    )
    assert pool["listeners"] == [{"id": listener["id"]}]
    member = cli.run(
        "loadbalancer member create --subnet-id web-server-subnet --address 192.168.1.14"
        " --protocol-port 80 p1 -f json"
    )
    assert member["subnet_id"] == subnets["web-server-subnet"]["id"]
    monitor = cli.run(
        "loadbalancer healthmonitor create --delay 5 --max-retries 3 --timeout 5 --type PING p1"
        " -f json"
    )
    assert monitor["pools"] == [{"id": pool["id"]}]

    status = cli.run("loadbalancer status show lb1")["loadbalancer"]
    assert (status["id"], status["name"], status["provisioning_status"]) == (
        lb["id"],
        "lb1",
        "ACTIVE",
    )
    [shown_listener] = status["listeners"]
    assert (shown_listener["name"], shown_listener["provisioning_status"]) == ("l1", "ACTIVE")
    [shown_pool] = shown_listener["pools"]
    assert (shown_pool["name"], shown_pool["provisioning_status"]) == ("p1", "ACTIVE")
    assert shown_pool["health_monitor"]["id"] == monitor["id"]
    assert shown_pool["health_monitor"]["type"] == "PING"
    [shown_member] = shown_pool["members"]
    assert (shown_member["address"], shown_member["protocol_port"]) == ("192.168.1.14", 80)
    assert shown_member["provisioning_status"] == "ACTIVE"


def test_load_balancer_commands(cli: Cli, subnets: dict[str, dict[str, Any]]) -> None:
    a, b, every, all_tags, any_tags, not_tags, not_any, by_name = cli.batch(
        "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-a --tag blue --tag red"
        " --description first --wait -f json",
        "loadbalancer create --vip-network-id lb-vip-net --name lb-b --tag blue --wait -f json",
        "loadbalancer list -f json",
        "loadbalancer list --tags blue,red -f json",
        "loadbalancer list --any-tags red,blue -f json",
        "loadbalancer list --not-tags blue,red -f json",
        "loadbalancer list --not-any-tags red -f json",
        "loadbalancer list --name lb-b -f json",
    )
    assert sorted(a["tags"]) == ["blue", "red"] and a["description"] == "first"
    assert a["vip_subnet_id"] == subnets["lb-vip-subnet"]["id"]
    assert b["vip_subnet_id"] == a["vip_subnet_id"] and b["vip_address"] != a["vip_address"]
    ours = {"lb-a", "lb-b"}
    row = next(r for r in every if r["name"] == "lb-a")
    assert (row["id"], row["vip_address"], row["provisioning_status"]) == (
        a["id"],
        a["vip_address"],
        "ACTIVE",
    )
    assert ours <= names(every)
    assert names(all_tags) & ours == {"lb-a"}
    assert names(any_tags) & ours == ours
    assert names(not_tags) & ours == {"lb-b"}
    assert names(not_any) & ours == {"lb-b"}
    assert [r["id"] for r in by_name] == [b["id"]]

    changes, deletion = cli.batches(
        [
            "loadbalancer set --name lb-a2 --description changed --tag green --wait lb-a",
            "loadbalancer show lb-a2 -f json",
            "loadbalancer unset --description --tag blue --wait lb-a2",
            "loadbalancer show lb-a2 -f json",
            "loadbalancer stats show lb-a2 -f json",
            "loadbalancer failover --wait lb-a2",
            "loadbalancer show lb-a2 -f json",
        ],
        [
            "loadbalancer set --disable --wait lb-b",
            "loadbalancer list --disable -f json",
            "loadbalancer delete --wait lb-b",
            "loadbalancer list -f json",
        ],
    )
    changed, unset, stats, failed_over = changes
    assert (changed["name"], changed["description"]) == ("lb-a2", "changed")
    assert sorted(changed["tags"]) == ["blue", "green", "red"]
    assert unset["description"] == "" and sorted(unset["tags"]) == ["green", "red"]
    assert stats == {
        "active_connections": 0,
        "bytes_in": 0,
        "bytes_out": 0,
        "request_errors": 0,
        "total_connections": 0,
    }
    assert failed_over["provisioning_status"] == "ACTIVE"
    disabled, after_delete = deletion
    assert [r["id"] for r in disabled] == [b["id"]]
    assert "lb-b" not in names(after_delete)


def test_listener_pool_member_monitor_and_l7_commands(
    cli: Cli, subnets: dict[str, dict[str, Any]]
) -> None:
    # Each sequence on a load balancer of its own, all side by side (see Cli.batches).
    listeners, pools, members, monitors, policies, rules = cli.batches(
        [
            "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-listeners --wait -f json",
            "loadbalancer listener create --protocol HTTP --protocol-port 80 --name web"
            " --tag front --wait lb-listeners -f json",
            "loadbalancer listener create --protocol TCP --protocol-port 9000 --name raw"
            " --connection-limit 100 --wait lb-listeners -f json",
            "loadbalancer listener set --description public --timeout-client-data 1000"
            " --tag edge --wait web",
            "loadbalancer listener unset --connection-limit --wait raw",
            "loadbalancer listener show web -f json",
            "loadbalancer listener show raw -f json",
            "loadbalancer listener list --loadbalancer lb-listeners -f json",
            "loadbalancer listener list --tags edge -f json",
            "loadbalancer listener stats show web -f json",
            "loadbalancer listener delete --wait raw",
            "loadbalancer listener list --loadbalancer lb-listeners -f json",
            "loadbalancer delete --cascade --wait lb-listeners",
            "loadbalancer listener list -f json",
        ],
        [
            "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-pools --wait -f json",
            "loadbalancer pool create --lb-algorithm LEAST_CONNECTIONS --loadbalancer lb-pools"
            " --protocol HTTP --name web-pool --session-persistence type=HTTP_COOKIE"
            " --tag gold --wait -f json",
            "loadbalancer pool set --lb-algorithm SOURCE_IP --description backends"
            " --tag silver --wait web-pool",
            "loadbalancer pool unset --session-persistence --tag gold --wait web-pool",
            "loadbalancer pool show web-pool -f json",
            "loadbalancer pool list --loadbalancer lb-pools -f json",
            "loadbalancer pool delete --wait web-pool",
            "loadbalancer pool list --loadbalancer lb-pools -f json",
        ],
        [
            "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-members --wait -f json",
            "loadbalancer pool create --lb-algorithm ROUND_ROBIN --loadbalancer lb-members"
            " --protocol HTTP --name member-pool --wait -f json",
            "loadbalancer member create --subnet-id web-server-subnet --address 192.168.1.20"
            " --protocol-port 8080 --name m1 --weight 5 --tag a --wait member-pool -f json",
            "loadbalancer member set --weight 7 --monitor-port 8081 --enable-backup"
            " --tag b --wait member-pool m1",
            "loadbalancer member unset --weight --monitor-port --tag a --wait member-pool m1",
            "loadbalancer member show member-pool m1 -f json",
            "loadbalancer member list member-pool -f json",
            "loadbalancer member delete --wait member-pool m1",
            "loadbalancer member list member-pool -f json",
            "loadbalancer delete --cascade --wait lb-members",
            "loadbalancer pool list -f json",
        ],
        [
            "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-monitors --wait -f json",
            "loadbalancer pool create --lb-algorithm ROUND_ROBIN --loadbalancer lb-monitors"
            " --protocol HTTP --name monitored-pool --wait -f json",
            "loadbalancer healthmonitor create --delay 10 --max-retries 4 --timeout 5 --type HTTP"
            " --url-path /health --expected-codes 200,204 --name hm --wait monitored-pool -f json",
            "loadbalancer healthmonitor set --delay 15 --http-method HEAD --wait hm",
            "loadbalancer healthmonitor unset --url-path --expected-codes --wait hm",
            "loadbalancer healthmonitor show hm -f json",
            "loadbalancer healthmonitor list -f json",
            "loadbalancer healthmonitor delete --wait hm",
            "loadbalancer pool show monitored-pool -f json",
        ],
        [
            "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-l7p --wait -f json",
            "loadbalancer listener create --protocol HTTP --protocol-port 80 --name l7p-listener"
            " --wait lb-l7p -f json",
            "loadbalancer pool create --lb-algorithm ROUND_ROBIN --loadbalancer lb-l7p"
            " --protocol HTTP --name l7p-pool --wait -f json",
            "loadbalancer l7policy create --action REDIRECT_TO_POOL --redirect-pool l7p-pool"
            " --name to-pool --tag x --wait l7p-listener -f json",
            "loadbalancer l7policy create --action REDIRECT_TO_URL"
            " --redirect-url http://example.com/ --redirect-http-code 301 --name to-url"
            " --description moved --position 1 --wait l7p-listener -f json",
            "loadbalancer l7policy list -f json",
            "loadbalancer l7policy set --action REJECT --tag y --wait to-url",
            "loadbalancer l7policy unset --description --wait to-url",
            "loadbalancer l7policy show to-url -f json",
            "loadbalancer l7policy delete --wait to-url",
            "loadbalancer l7policy show to-pool -f json",
        ],
        [
            "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-l7r --wait -f json",
            "loadbalancer listener create --protocol HTTP --protocol-port 80 --name l7r-listener"
            " --wait lb-l7r -f json",
            "loadbalancer l7policy create --action REJECT --name deny --wait l7r-listener -f json",
            "loadbalancer l7rule create --compare-type STARTS_WITH --type PATH --value /api"
            " --tag r --wait deny -f json",
            "loadbalancer l7rule create --compare-type EQUAL_TO --type HEADER --key X-Env"
            " --value prod --invert --wait deny -f json",
            "loadbalancer l7rule list deny -f json",
        ],
    )
    lb, web, raw, web_shown, raw_shown, listed, tagged, stats, left, everywhere = listeners
    assert web["loadbalancers"] == [{"id": lb["id"]}] and web["tags"] == ["front"]
    assert raw["connection_limit"] == 100
    assert (web_shown["description"], web_shown["timeout_client_data"]) == ("public", 1000)
    assert sorted(web_shown["tags"]) == ["edge", "front"]
    assert web_shown["provisioning_status"] == "ACTIVE"
    assert raw_shown["connection_limit"] == -1
    assert {r["name"]: r["protocol_port"] for r in listed} == {"web": 80, "raw": 9000}
    assert [r["id"] for r in tagged] == [web["id"]]
    assert stats["total_connections"] == 0
    assert [r["name"] for r in left] == ["web"]
    assert "web" not in names(everywhere)

    lb, pool, pool_shown, listed, left = pools
    assert pool["loadbalancers"] == [{"id": lb["id"]}] and pool["tags"] == ["gold"]
    assert pool["session_persistence"]["type"] == "HTTP_COOKIE"
    assert (pool_shown["lb_algorithm"], pool_shown["description"]) == ("SOURCE_IP", "backends")
    assert pool_shown["session_persistence"] is None and pool_shown["tags"] == ["silver"]
    assert [p["id"] for p in listed] == [pool["id"]]
    assert left == []

    _, _, m1, m1_shown, listed, left, pools_left = members
    assert (m1["address"], m1["weight"], m1["tags"]) == ("192.168.1.20", 5, ["a"])
    assert m1["subnet_id"] == subnets["web-server-subnet"]["id"]
    assert (m1_shown["weight"], m1_shown["monitor_port"]) == (1, None)
    assert (m1_shown["backup"], m1_shown["tags"]) == (True, ["b"])
    assert m1_shown["provisioning_status"] == "ACTIVE"
    assert [m["id"] for m in listed] == [m1["id"]]
    assert left == []
    assert "member-pool" not in names(pools_left)

    _, pool, hm, hm_shown, listed, pool_shown = monitors
    assert (hm["url_path"], hm["expected_codes"], hm["pools"]) == (
        "/health",
        "200,204",
        [{"id": pool["id"]}],
    )
    assert (hm_shown["delay"], hm_shown["http_method"]) == (15, "HEAD")
    assert (hm_shown["url_path"], hm_shown["expected_codes"]) == ("/", "200")
    assert hm["id"] in {m["id"] for m in listed}
    assert pool_shown["healthmonitor_id"] is None

    _, listener, pool, to_pool, to_url, listed, url_shown, pool_shown = policies
    assert (to_pool["redirect_pool_id"], to_pool["listener_id"]) == (pool["id"], listener["id"])
    assert to_pool["tags"] == ["x"]
    assert (to_url["redirect_url"], to_url["redirect_http_code"]) == ("http://example.com/", 301)
    assert {p["name"]: p["position"] for p in listed if p["name"].startswith("to-")} == {
        "to-url": 1,
        "to-pool": 2,
    }
    assert (url_shown["action"], url_shown["description"]) == ("REJECT", "")
    assert url_shown["redirect_url"] is None and url_shown["tags"] == ["y"]
    assert url_shown["provisioning_status"] == "ACTIVE"
    assert pool_shown["position"] == 1

    _, _, deny, path, header, listed = rules
    assert (path["type"], path["compare_type"], path["value"]) == ("PATH", "STARTS_WITH", "/api")
    assert path["tags"] == ["r"]
    assert (header["key"], header["invert"]) == ("X-Env", True)
    assert {r["id"] for r in listed} == {path["id"], header["id"]}

    rule, other = path["id"], header["id"]
    path_shown, header_shown, left, deny_shown = cli.batch(
        f"loadbalancer l7rule set --value /v2 --compare-type REGEX --wait deny {rule}",
        f"loadbalancer l7rule unset --invert --wait deny {other}",
        f"loadbalancer l7rule show deny {rule} -f json",
        f"loadbalancer l7rule show deny {other} -f json",
        f"loadbalancer l7rule delete --wait deny {rule}",
        "loadbalancer l7rule list deny -f json",
        "loadbalancer l7policy show deny -f json",
    )
    assert (path_shown["compare_type"], path_shown["value"]) == ("REGEX", "/v2")
    assert path_shown["provisioning_status"] == "ACTIVE"
    assert (header_shown["invert"], header_shown["key"]) == (False, "X-Env")
    assert [r["id"] for r in left] == [other]
    assert deny_shown["rules"] == [{"id": other}] and deny["id"] == deny_shown["id"]


def test_quota_commands(cli: Cli) -> None:
    defaults, set_, shown, listed, unset, reset = cli.batch(
        "loadbalancer quota defaults show -f json",
        "loadbalancer quota set --loadbalancer 5 --listener 10 --member 50 admin -f json",
        "loadbalancer quota show admin -f json",
        "loadbalancer quota list -f json",
        "loadbalancer quota unset --listener admin",
        "loadbalancer quota show admin -f json",
        "loadbalancer quota reset admin",
        "loadbalancer quota show admin -f json",
    )
    assert defaults == {
        "load_balancer": -1,
        "listener": -1,
        "pool": -1,
        "health_monitor": -1,
        "member": -1,
        "l7policy": -1,
        "l7rule": -1,
    }
    assert (set_["load_balancer"], set_["listener"], set_["member"]) == (5, 10, 50)
    assert shown == set_
    assert [(q["load_balancer"], q["listener"]) for q in listed] == [(5, 10)]
    assert (unset["load_balancer"], unset["listener"]) == (5, -1)
    assert reset == defaults


def test_provider_commands(cli: Cli) -> None:
    providers, capabilities = cli.batch(
        "loadbalancer provider list -f json",
        "loadbalancer provider capability list amphora -f json",
    )
    assert {p["name"] for p in providers} == {"amphora", "octavia"}
    assert {c["type"] for c in capabilities} == {"flavor", "availability_zone"}
    assert {"loadbalancer_topology", "compute_zone"} <= {c["name"] for c in capabilities}


def test_flavor_and_availability_zone_commands(
    cli: Cli, subnets: dict[str, dict[str, Any]]
) -> None:
    # JSON arguments need a process of their own (see Cli.batch).
    profile = cli.run(
        "loadbalancer flavorprofile create --name single --provider amphora"
        """ --flavor-data '{"loadbalancer_topology": "SINGLE"}' -f json"""
    )
    zone_profile = cli.run(
        "loadbalancer availabilityzoneprofile create --name zone-a-profile --provider amphora"
        """ --availability-zone-data '{"compute_zone": "nova"}' -f json"""
    )
    assert profile["provider_name"] == zone_profile["provider_name"] == "amphora"
    out = cli.batch(
        "loadbalancer flavorprofile set --name single-profile single",
        "loadbalancer flavorprofile list -f json",
        "loadbalancer flavorprofile show single-profile -f json",
        "loadbalancer flavor create --name small --flavorprofile single-profile"
        " --description first -f json",
        "loadbalancer flavor set --name tiny --disable small",
        "loadbalancer flavor unset --description tiny",
        "loadbalancer flavor show tiny -f json",
        "loadbalancer flavor set --enable tiny",
        "loadbalancer flavor list -f json",
        "loadbalancer availabilityzoneprofile set --name zone-profile zone-a-profile",
        "loadbalancer availabilityzoneprofile list -f json",
        "loadbalancer availabilityzoneprofile show zone-profile -f json",
        "loadbalancer availabilityzone create --name zone-a --availabilityzoneprofile"
        " zone-profile --description first -f json",
        "loadbalancer availabilityzone set --description second --disable zone-a",
        "loadbalancer availabilityzone show zone-a -f json",
        "loadbalancer availabilityzone unset --description zone-a",
        "loadbalancer availabilityzone set --enable zone-a",
        "loadbalancer availabilityzone list -f json",
        "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-sized --flavor tiny"
        " --availability-zone zone-a --wait -f json",
        "loadbalancer delete --wait lb-sized",
        "loadbalancer availabilityzone delete zone-a",
        "loadbalancer availabilityzoneprofile delete zone-profile",
        "loadbalancer flavor delete tiny",
        "loadbalancer flavorprofile delete single-profile",
        "loadbalancer flavor list -f json",
        "loadbalancer flavorprofile list -f json",
        "loadbalancer availabilityzone list -f json",
        "loadbalancer availabilityzoneprofile list -f json",
    )
    profiles, profile_shown, flavor, flavor_shown, flavors = out[:5]
    assert (profile_shown["id"], profile_shown["name"]) == (profile["id"], "single-profile")
    assert names(profiles) == {"single-profile"}
    assert flavor["flavor_profile_id"] == profile["id"] and flavor["enabled"] is True
    assert (flavor_shown["name"], flavor_shown["enabled"]) == ("tiny", False)
    assert flavor_shown["description"] == ""
    assert [(f["name"], f["enabled"]) for f in flavors] == [("tiny", True)]

    zone_profiles, zone_profile_shown, zone, zone_shown, zones = out[5:10]
    assert names(zone_profiles) == {"zone-profile"}
    assert zone_profile_shown["id"] == zone_profile["id"]
    assert zone["availability_zone_profile_id"] == zone_profile["id"]
    assert (zone_shown["description"], zone_shown["enabled"]) == ("second", False)
    assert [(z["name"], z["enabled"]) for z in zones] == [("zone-a", True)]

    sized, *emptied = out[10:]
    assert (sized["flavor_id"], sized["availability_zone"]) == (flavor["id"], "zone-a")
    assert emptied == [[], [], [], []]


def test_another_project_sees_none_of_the_admins_load_balancers(
    cli: Cli, subnets: dict[str, dict[str, Any]]
) -> None:
    lb, project, user = cli.batch(
        "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-private --wait -f json",
        "project create other -f json",
        f"user create --project other --password {OTHER_PASSWORD} other-user -f json",
        "role add --project other --user other-user member",
    )
    assert user["default_project_id"] == project["id"]

    # The cli fixture's clouds.yaml has this user's cloud, named after its project.
    other = cli.as_cloud("other")
    token, listed = other.batch("token issue -f json", "loadbalancer list -f json")
    assert token["project_id"] == project["id"]
    assert listed == []
    message = other.fail(f"loadbalancer show {lb['id']}")
    assert "Policy does not allow this request to be performed." in message
    assert "(HTTP 403)" in message
