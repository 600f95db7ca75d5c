"""The ``openstack`` command (python-openstackclient with python-octaviaclient) against Ostia:
identity, networks, and every load-balancer command a user has."""

from __future__ import annotations

import json
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
    done = cli.process(
        [
            "--os-auth-url",
            server.auth_url,
            "--os-username",
            "admin",
            "--os-password",
            ADMIN_PASSWORD,
            "--os-project-name",
            "admin",
            "--os-user-domain-name",
            "Default",
            "--os-project-domain-name",
            "Default",
            "subnet",
            "list",
            "-f",
            "json",
        ]
    )
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


def test_load_balancer_commands(cli: Cli) -> None:
    out = cli.batch(
        "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-a --tag blue --tag red"
        " --description first --wait -f json",
        "loadbalancer create --vip-network-id lb-vip-net --name lb-b --tag blue --wait -f json",
        "loadbalancer list -f json",
        "loadbalancer list --tags blue,red -f json",
        "loadbalancer list --any-tags red,blue -f json",
        "loadbalancer list --not-tags blue,red -f json",
        "loadbalancer list --not-any-tags red -f json",
        "loadbalancer list --name lb-b -f json",
        "loadbalancer set --name lb-a2 --description changed --tag green --wait lb-a",
        "loadbalancer show lb-a2 -f json",
        "loadbalancer unset --description --tag blue --wait lb-a2",
        "loadbalancer show lb-a2 -f json",
        "loadbalancer set --disable --wait lb-a2",
        "loadbalancer list --disable -f json",
        "loadbalancer stats show lb-a2 -f json",
        "loadbalancer failover --wait lb-a2",
        "loadbalancer show lb-a2 -f json",
        "loadbalancer delete --wait lb-b",
        "loadbalancer list -f json",
    )
    a, b, every, all_tags, any_tags, not_tags, not_any, by_name = out[:8]
    assert sorted(a["tags"]) == ["blue", "red"] and a["description"] == "first"
    assert b["vip_network_id"] == a["vip_network_id"] and b["vip_address"] != a["vip_address"]
    ours = {"lb-a", "lb-b"}
    assert ours <= names(every)
    row = next(r for r in every if r["name"] == "lb-a")
    assert (row["id"], row["vip_address"], row["provisioning_status"]) == (
        a["id"],
        a["vip_address"],
        "ACTIVE",
    )
    assert names(all_tags) & ours == {"lb-a"}
    assert names(any_tags) & ours == ours
    assert names(not_tags) & ours == {"lb-b"}
    assert names(not_any) & ours == {"lb-b"}
    assert [r["id"] for r in by_name] == [b["id"]]

    changed, unset, disabled, stats, failed_over, after_delete = out[8:]
    assert (changed["name"], changed["description"]) == ("lb-a2", "changed")
    assert sorted(changed["tags"]) == ["blue", "green", "red"]
    assert unset["description"] == "" and sorted(unset["tags"]) == ["green", "red"]
    assert [r["id"] for r in disabled] == [a["id"]]
    assert stats == {
        "active_connections": 0,
        "bytes_in": 0,
        "bytes_out": 0,
        "request_errors": 0,
        "total_connections": 0,
    }
    assert failed_over["provisioning_status"] == "ACTIVE"
    assert failed_over["admin_state_up"] is False
    assert "lb-b" not in names(after_delete) and "lb-a2" in names(after_delete)


def test_listener_pool_member_and_monitor_commands(cli: Cli) -> None:
    out = cli.batch(
        "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-tree --wait -f json",
        "loadbalancer listener create --protocol HTTP --protocol-port 80 --name web"
        " --tag front --wait lb-tree -f json",
        "loadbalancer listener create --protocol TCP --protocol-port 9000 --name raw"
        " --connection-limit 100 --wait lb-tree -f json",
        "loadbalancer listener list --loadbalancer lb-tree -f json",
        "loadbalancer listener set --description public --timeout-client-data 1000"
        " --tag edge --wait web",
        "loadbalancer listener unset --connection-limit --wait raw",
        "loadbalancer listener show web -f json",
        "loadbalancer listener show raw -f json",
        "loadbalancer listener stats show web -f json",
        "loadbalancer pool create --lb-algorithm LEAST_CONNECTIONS --listener web"
        " --protocol HTTP --name web-pool --session-persistence type=HTTP_COOKIE"
        " --tag gold --wait -f json",
        "loadbalancer pool set --lb-algorithm SOURCE_IP --description backends --wait web-pool",
        "loadbalancer pool unset --session-persistence --wait web-pool",
        "loadbalancer pool show web-pool -f json",
        "loadbalancer pool list --loadbalancer lb-tree -f json",
        "loadbalancer member create --subnet-id web-server-subnet --address 192.168.1.20"
        " --protocol-port 8080 --name m1 --weight 5 --tag a --wait web-pool -f json",
        "loadbalancer member create --subnet-id web-server-subnet --address 192.168.1.21"
        " --protocol-port 8080 --name m2 --enable-backup --wait web-pool -f json",
        "loadbalancer member set --weight 7 --monitor-port 8081 --wait web-pool m1",
        "loadbalancer member unset --weight --monitor-port --wait web-pool m1",
        "loadbalancer member show web-pool m1 -f json",
        "loadbalancer member list web-pool -f json",
        "loadbalancer healthmonitor create --delay 10 --max-retries 4 --timeout 5 --type HTTP"
        " --url-path /health --expected-codes 200,204 --name hm --wait web-pool -f json",
        "loadbalancer healthmonitor set --delay 15 --http-method HEAD --wait hm",
        "loadbalancer healthmonitor unset --url-path --expected-codes --wait hm",
        "loadbalancer healthmonitor show hm -f json",
        "loadbalancer healthmonitor list -f json",
        "loadbalancer member delete --wait web-pool m2",
        "loadbalancer member list web-pool -f json",
        "loadbalancer healthmonitor delete --wait hm",
        "loadbalancer listener delete --wait raw",
        "loadbalancer pool delete --wait web-pool",
        "loadbalancer listener list --loadbalancer lb-tree -f json",
    )
    lb, web, raw, listeners, web_shown, raw_shown, listener_stats = out[:7]
    assert web["loadbalancers"] == [{"id": lb["id"]}] and web["tags"] == ["front"]
    assert raw["connection_limit"] == 100
    assert {r["name"]: r["protocol_port"] for r in listeners} == {"web": 80, "raw": 9000}
    assert web_shown["description"] == "public" and web_shown["timeout_client_data"] == 1000
    assert sorted(web_shown["tags"]) == ["edge", "front"]
    assert raw_shown["connection_limit"] == -1
    assert listener_stats["total_connections"] == 0

    pool, pool_shown, pools = out[7:10]
    assert pool["session_persistence"]["type"] == "HTTP_COOKIE" and pool["tags"] == ["gold"]
    assert pool["listeners"] == [{"id": web["id"]}]
    assert pool_shown["lb_algorithm"] == "SOURCE_IP" and pool_shown["description"] == "backends"
    assert pool_shown["session_persistence"] is None
    assert [p["id"] for p in pools] == [pool["id"]]

    m1, m2, m1_shown, members = out[10:14]
    assert (m1["address"], m1["weight"], m1["tags"]) == ("192.168.1.20", 5, ["a"])
    assert m2["backup"] is True
    assert m1_shown["weight"] == 1 and m1_shown["monitor_port"] is None
    assert {m["name"] for m in members} == {"m1", "m2"}

    hm, hm_shown, monitors, members_left, listeners_left = out[14:]
    assert (hm["url_path"], hm["expected_codes"]) == ("/health", "200,204")
    assert (hm_shown["delay"], hm_shown["http_method"]) == (15, "HEAD")
    assert (hm_shown["url_path"], hm_shown["expected_codes"]) == ("/", "200")
    assert hm["id"] in {m["id"] for m in monitors}
    assert [m["name"] for m in members_left] == ["m1"]
    assert [r["name"] for r in listeners_left] == ["web"]

    # Deleting the load balancer with what is left under it.
    deleted = cli.batch(
        "loadbalancer delete --cascade --wait lb-tree", "loadbalancer list --name lb-tree -f json"
    )
    assert deleted == [[]]


def test_l7_policy_and_rule_commands(cli: Cli) -> None:
    out = cli.batch(
        "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-l7 --wait -f json",
        "loadbalancer listener create --protocol HTTP --protocol-port 80 --name l7-listener"
        " --wait lb-l7 -f json",
        "loadbalancer pool create --lb-algorithm ROUND_ROBIN --loadbalancer lb-l7"
        " --protocol HTTP --name l7-pool --wait -f json",
        "loadbalancer l7policy create --action REDIRECT_TO_POOL --redirect-pool l7-pool"
        " --name to-pool --tag x --wait l7-listener -f json",
        "loadbalancer l7policy create --action REDIRECT_TO_URL --redirect-url http://example.com"
        " --redirect-http-code 301 --name to-url --position 1 --wait l7-listener -f json",
        "loadbalancer l7policy list -f json",
        "loadbalancer l7policy set --description moved --action REJECT --wait to-url",
        "loadbalancer l7policy unset --description --wait to-url",
        "loadbalancer l7policy show to-url -f json",
        "loadbalancer l7rule create --compare-type STARTS_WITH --type PATH --value /api"
        " --tag r --wait to-pool -f json",
        "loadbalancer l7rule create --compare-type EQUAL_TO --type HEADER --key X-Env"
        " --value prod --invert --wait to-pool -f json",
        "loadbalancer l7rule list to-pool -f json",
    )
    _, listener, pool, to_pool, to_url, policies, url_shown, path_rule, header_rule, rules = out
    assert to_pool["redirect_pool_id"] == pool["id"] and to_pool["tags"] == ["x"]
    assert to_pool["listener_id"] == listener["id"]
    assert (to_url["redirect_url"], to_url["redirect_http_code"]) == ("http://example.com", 301)
    assert {p["name"]: p["position"] for p in policies if p["name"].startswith("to-")} == {
        "to-url": 1,
        "to-pool": 2,
    }
    assert url_shown["action"] == "REJECT" and url_shown["description"] == ""
    assert url_shown["redirect_url"] is None
    assert (path_rule["type"], path_rule["value"], path_rule["tags"]) == ("PATH", "/api", ["r"])
    assert (header_rule["key"], header_rule["invert"]) == ("X-Env", True)
    assert {r["id"] for r in rules} == {path_rule["id"], header_rule["id"]}

    rule, header = path_rule["id"], header_rule["id"]
    out = cli.batch(
        f"loadbalancer l7rule set --value /v2 --compare-type REGEX --wait to-pool {rule}",
        f"loadbalancer l7rule unset --invert --key --wait to-pool {header}",
        f"loadbalancer l7rule show to-pool {rule} -f json",
        f"loadbalancer l7rule show to-pool {header} -f json",
        f"loadbalancer l7rule delete --wait to-pool {rule}",
        "loadbalancer l7rule list to-pool -f json",
        "loadbalancer l7policy delete --wait to-url",
        "loadbalancer l7policy show to-pool -f json",
        "loadbalancer delete --cascade --wait lb-l7",
    )
    rule_shown, header_shown, rules_left, policy_left = out
    assert (rule_shown["compare_type"], rule_shown["value"]) == ("REGEX", "/v2")
    assert header_shown["invert"] is False and header_shown["key"] is None
    assert [r["id"] for r in rules_left] == [header]
    assert policy_left["position"] == 1
    assert policy_left["rules"] == [{"id": header}]


def test_quota_commands(cli: Cli) -> None:
    out = cli.batch(
        "loadbalancer quota defaults show -f json",
        "loadbalancer quota set --loadbalancer 5 --listener 10 --member 50 admin -f json",
        "loadbalancer quota show admin -f json",
        "loadbalancer quota list -f json",
        "loadbalancer quota unset --listener admin",
        "loadbalancer quota show admin -f json",
        "loadbalancer quota reset admin",
        "loadbalancer quota show admin -f json",
    )
    defaults, set_, shown, listed, unset, reset = out
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
    [row] = [r for r in listed if r["project_id"] == shown["project_id"]] if "project_id" in shown else listed
    assert row["load_balancer"] == 5
    assert (unset["load_balancer"], unset["listener"]) == (5, -1)
    assert reset["load_balancer"] == -1


def test_provider_commands(cli: Cli) -> None:
    providers, capabilities = cli.batch(
        "loadbalancer provider list -f json",
        "loadbalancer provider capability list amphora -f json",
    )
    assert {p["name"] for p in providers} == {"amphora", "octavia"}
    assert {c["type"] for c in capabilities} == {"flavor", "availability_zone"}
    assert "loadbalancer_topology" in {c["name"] for c in capabilities}


def test_flavor_and_availability_zone_commands(cli: Cli) -> None:
    out = cli.batch(
        "loadbalancer flavorprofile create --name single --provider amphora"
        ' --flavor-data \'{"loadbalancer_topology": "SINGLE"}\' -f json',
        "loadbalancer flavorprofile set --name single-profile single",
        "loadbalancer flavorprofile list -f json",
        "loadbalancer flavorprofile show single-profile -f json",
        "loadbalancer flavor create --name small --flavorprofile single-profile"
        " --description 'one amphora' -f json",
        "loadbalancer flavor set --name tiny --disable small",
        "loadbalancer flavor unset --description tiny",
        "loadbalancer flavor show tiny -f json",
        "loadbalancer flavor set --enable tiny",
        "loadbalancer flavor list -f json",
        "loadbalancer availabilityzoneprofile create --name zone-a-profile --provider amphora"
        ' --availability-zone-data \'{"compute_zone": "nova"}\' -f json',
        "loadbalancer availabilityzoneprofile set --availability-zone-data"
        ' \'{"compute_zone": "zone-a"}\' zone-a-profile',
        "loadbalancer availabilityzoneprofile list -f json",
        "loadbalancer availabilityzoneprofile show zone-a-profile -f json",
        "loadbalancer availabilityzone create --name zone-a --availabilityzoneprofile"
        " zone-a-profile --description 'first zone' -f json",
        "loadbalancer availabilityzone set --description 'zone A' --disable zone-a",
        "loadbalancer availabilityzone show zone-a -f json",
        "loadbalancer availabilityzone unset --description zone-a",
        "loadbalancer availabilityzone set --enable zone-a",
        "loadbalancer availabilityzone list -f json",
        "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-sized --flavor tiny"
        " --availability-zone zone-a --wait -f json",
        "loadbalancer delete --wait lb-sized",
        "loadbalancer availabilityzone delete zone-a",
        "loadbalancer availabilityzoneprofile delete zone-a-profile",
        "loadbalancer flavor delete tiny",
        "loadbalancer flavorprofile delete single-profile",
        "loadbalancer flavor list -f json",
        "loadbalancer flavorprofile list -f json",
        "loadbalancer availabilityzone list -f json",
        "loadbalancer availabilityzoneprofile list -f json",
    )
    profile, profiles, profile_shown, flavor, flavor_shown, flavors = out[:6]
    assert profile["provider_name"] == "amphora"
    assert profile_shown["name"] == "single-profile" and profile_shown["id"] == profile["id"]
    assert "single-profile" in {p["name"] for p in profiles}
    assert flavor["flavor_profile_id"] == profile["id"] and flavor["enabled"] is True
    assert flavor_shown["name"] == "tiny" and flavor_shown["enabled"] is False
    assert flavor_shown["description"] == ""
    assert {f["name"]: f["enabled"] for f in flavors} == {"tiny": True}

    zone_profile, zone_profiles, zone_profile_shown, zone, zone_shown, zones = out[6:12]
    assert zone_profile["provider_name"] == "amphora"
    assert "zone-a" in zone_profile_shown["availability_zone_data"]
    assert "zone-a-profile" in {p["name"] for p in zone_profiles}
    assert zone["availability_zone_profile_id"] == zone_profile["id"]
    assert (zone_shown["description"], zone_shown["enabled"]) == ("zone A", False)
    assert [(z["name"], z["enabled"]) for z in zones] == [("zone-a", True)]

    sized, *empty = out[12:]
    assert (sized["flavor_id"], sized["availability_zone"]) == (flavor["id"], "zone-a")
    assert empty == [[], [], [], []]


def test_another_project_sees_none_of_the_admins_load_balancers(cli: Cli) -> None:
    lb, project, user = cli.batch(
        "loadbalancer create --vip-subnet-id lb-vip-subnet --name lb-private --wait -f json",
        "project create other -f json",
        f"user create --project other --password {OTHER_PASSWORD} other-user -f json",
        "role add --project other --user other-user member",
    )
    assert user["default_project_id"] == project["id"]

    # clouds.yaml already has a cloud for this user (see the cli fixture).
    other = cli.as_cloud("other")
    token, listed = other.batch("token issue -f json", "loadbalancer list -f json")
    assert token["project_id"] == project["id"]
    assert listed == []
    message = other.fail(f"loadbalancer show {lb['id']}")
    assert "Policy does not allow this request to be performed." in message
    assert "(HTTP 403)" in message
