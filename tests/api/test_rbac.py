"""The RBAC matrix: every call of the Octavia v2 API (INVENTORY §1.2 rows 1–74), made by every
persona of Octavia's default policy (§9.2) from the objects' own project and from another one.

An allowed call must answer its success code, a refused one 403 with Octavia's message, and a
list must show exactly what the caller may see (§9.3). What each persona may do is written out
below by hand from §9.2, not derived from Ostia's policy module, so that the two can disagree.
Every disagreement of a test is collected and reported at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from ostia.db.models import Amphora
from tests.conftest import Ostia
from tests.helpers import OTHER_PROJECT, PROJECT, VIP_SUBNET, Api, expect, new_id, wait_for_lb

T = TypeVar("T")
Rule = frozenset[str]

FORBIDDEN = {
    "faultcode": "Client",
    "faultstring": "Policy does not allow this request to be performed.",
    "debuginfo": None,
}

LBS = "/v2/lbaas/loadbalancers"
LISTENERS = "/v2/lbaas/listeners"
POOLS = "/v2/lbaas/pools"
HEALTH_MONITORS = "/v2/lbaas/healthmonitors"
L7POLICIES = "/v2/lbaas/l7policies"
QUOTAS = "/v2/lbaas/quotas"
PROVIDERS = "/v2/lbaas/providers"
AMPHORAE = "/v2/octavia/amphorae"

# Octavia's API access rules (§9.2). A call needs one of the rules of its set.
READ: Rule = frozenset({"load-balancer:read"})
READ_GLOBAL: Rule = frozenset({"load-balancer:read-global"})
WRITE: Rule = frozenset({"load-balancer:write"})
ADMIN: Rule = frozenset({"load-balancer:admin"})
READ_QUOTA: Rule = frozenset({"load-balancer:read-quota"})
READ_QUOTA_GLOBAL: Rule = frozenset({"load-balancer:read-quota-global"})
WRITE_QUOTA: Rule = frozenset({"load-balancer:write-quota"})
SERVICE: Rule = frozenset({"service"})

EVERYTHING = READ | READ_GLOBAL | WRITE | ADMIN | READ_QUOTA | READ_QUOTA_GLOBAL | WRITE_QUOTA
GLOBAL_OBSERVER = READ | READ_GLOBAL | READ_QUOTA | READ_QUOTA_GLOBAL
QUOTA_ADMIN = READ_QUOTA | READ_QUOTA_GLOBAL | WRITE_QUOTA
NOTHING: Rule = frozenset()


@dataclass(frozen=True)
class Persona:
    """Roles, and the rules they pass on objects of their own project and of another."""

    roles: str
    own: Rule
    other: Rule


PERSONAS = [
    Persona("admin", EVERYTHING, EVERYTHING),
    Persona("member", READ | WRITE | READ_QUOTA, NOTHING),
    Persona("reader", READ | READ_QUOTA, NOTHING),
    Persona("", NOTHING, NOTHING),
    Persona("load-balancer_admin", EVERYTHING, EVERYTHING),
    Persona("load-balancer_global_observer", GLOBAL_OBSERVER, GLOBAL_OBSERVER),
    Persona("load-balancer_observer", READ | READ_QUOTA, NOTHING),
    Persona("load-balancer_member", READ | WRITE | READ_QUOTA, NOTHING),
    Persona("load-balancer_quota_admin", QUOTA_ADMIN, QUOTA_ADMIN),
    Persona("service", SERVICE, SERVICE),
]


@dataclass(frozen=True)
class Caller:
    persona: Persona
    project: str

    def __str__(self) -> str:
        where = "the owner project" if self.project == PROJECT else "another project"
        return f"{self.persona.roles or 'no role'} of {where}"

    def may(self, needs: Rule, owner: str | None) -> bool:
        """Whether the default policy allows a call needing one of ``needs`` on an object of
        ``owner`` (None: a call checked against the caller's own project, as for flavors)."""
        own = owner is None or owner == self.project
        return bool((self.persona.own if own else self.persona.other) & needs)

    def api(self, base: Api) -> Api:
        return base.as_user(self.project, self.persona.roles)


# Objects live in PROJECT; every persona calls from PROJECT and from OTHER_PROJECT.
CALLERS = [Caller(persona, project) for persona in PERSONAS for project in (PROJECT, OTHER_PROJECT)]


def _forbidden(response: httpx.Response) -> bool:
    try:
        return response.status_code == 403 and response.json() == FORBIDDEN
    except ValueError:
        return False


class Matrix:
    """Makes calls as every caller and collects each answer the policy does not predict."""

    def __init__(self, api: Api):
        self.api = api
        self.wrong: list[str] = []

    def _record(
        self, label: str, caller: Caller, allowed: bool, success: int, got: httpx.Response
    ) -> None:
        if allowed:
            ok, wanted = got.status_code == success, str(success)
        else:
            ok, wanted = _forbidden(got), f"403 {FORBIDDEN['faultstring']}"
        if not ok:
            self.wrong.append(
                f"{label} as {caller}: wanted {wanted}, got {got.status_code} {got.text[:200]}"
            )

    def every_caller(
        self,
        label: str,
        needs: Rule,
        success: int,
        send: Callable[[Api], httpx.Response],
        owner: str | None = PROJECT,
    ) -> None:
        """The same call by every caller."""
        for caller in CALLERS:
            response = send(caller.api(self.api))
            self._record(label, caller, caller.may(needs, owner), success, response)

    def sweep(
        self,
        label: str,
        needs: Rule,
        success: int,
        targets: Sequence[T],
        send: Callable[[Api, T], httpx.Response],
        owner: str | None = PROJECT,
    ) -> None:
        """A call that changes its target: refused callers aim at ``targets[0]``, each allowed
        caller at a target of its own, so that every allowed call finds its target intact."""
        spare = list(targets[1:])
        for caller in CALLERS:
            allowed = caller.may(needs, owner)
            if allowed:
                assert spare, f"{label}: more allowed callers than targets"
            target = spare.pop(0) if allowed else targets[0]
            self._record(label, caller, allowed, success, send(caller.api(self.api), target))

    def lists(
        self,
        label: str,
        path: str,
        key: str,
        read: Rule,
        read_global: Rule,
        ids: dict[str, set[str]],
        ident: str = "id",
    ) -> None:
        """A list by every caller, unfiltered and filtered on PROJECT: global readers see every
        project (or the one asked for), project readers only their own, anyone else gets 403.
        ``ids``: the ``ident`` of the listed objects of each project."""
        everything = set().union(*ids.values())
        for caller in CALLERS:
            for asked in (None, PROJECT):
                owner = asked or caller.project
                if caller.may(read_global, owner):
                    wanted: set[str] | None = everything if asked is None else ids[asked]
                elif caller.may(read, owner):
                    wanted = ids[owner]
                else:
                    wanted = None
                params = {"project_id": asked} if asked else {}
                response = caller.api(self.api).get(path, params=params)
                where = f"{label}?project_id=<owner>" if asked else label
                self._record(where, caller, wanted is not None, 200, response)
                if wanted is not None and response.status_code == 200:
                    seen = {item[ident] for item in response.json()[key]}
                    if seen != wanted:
                        self.wrong.append(f"{where} as {caller}: saw {seen}, wanted {wanted}")

    def verify(self) -> None:
        assert not self.wrong, f"{len(self.wrong)} answers disagree:\n" + "\n".join(self.wrong)


def getter(path: str) -> Callable[[Api], httpx.Response]:
    return lambda caller: caller.get(path)


@pytest.fixture
def matrix(api: Api) -> Matrix:
    return Matrix(api)


# -- load balancer trees ------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """A fully populated load balancer: a listener with an L7 policy and rule, its default
    pool with a member and a health monitor, and a spare empty pool."""

    lb: str
    listener: str
    pool: str
    spare_pool: str
    member: str
    healthmonitor: str
    l7policy: str
    l7rule: str
    project: str


def _tree_body(project: str) -> dict[str, Any]:
    rule = {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/api"}
    monitor = {"type": "HTTP", "delay": 5, "timeout": 5, "max_retries": 3}
    pool = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    return {
        "loadbalancer": {
            "vip_subnet_id": VIP_SUBNET,
            "project_id": project,
            "listeners": [
                {
                    "protocol": "HTTP",
                    "protocol_port": 80,
                    "default_pool": {"name": "main"},
                    "l7policies": [{"action": "REJECT", "rules": [rule]}],
                }
            ],
            "pools": [
                {
                    **pool,
                    "name": "main",
                    "healthmonitor": monitor,
                    "members": [{"address": "203.0.113.10", "protocol_port": 80}],
                },
                {**pool, "name": "spare"},
            ],
        }
    }


def plant(api: Api, projects: Sequence[str]) -> list[Tree]:
    """One tree per project given, created together, then settled."""
    trees = []
    for project in projects:
        lb = expect(api.post(LBS, _tree_body(project)), 201)["loadbalancer"]
        (listener,) = lb["listeners"]
        (l7policy,) = listener["l7policies"]
        pools = {pool["name"]: pool for pool in lb["pools"]}
        main = pools["main"]
        trees.append(
            Tree(
                lb=lb["id"],
                listener=listener["id"],
                pool=main["id"],
                spare_pool=pools["spare"]["id"],
                member=main["members"][0]["id"],
                healthmonitor=main["healthmonitor"]["id"],
                l7policy=l7policy["id"],
                l7rule=l7policy["rules"][0]["id"],
                project=project,
            )
        )
    settle(api, trees)
    return trees


def settle(api: Api, trees: Sequence[Tree]) -> None:
    for tree in trees:
        wait_for_lb(api, tree.lb)


@pytest.fixture
def trees(api: Api) -> list[Tree]:
    """One tree for the refused callers, one for each caller allowed to write (6: admin and
    load-balancer_admin of both projects, member and load-balancer_member of the owner)."""
    return plant(api, [PROJECT] * 7)


def members(tree: Tree) -> str:
    return f"{POOLS}/{tree.pool}/members"


def rules(tree: Tree) -> str:
    return f"{L7POLICIES}/{tree.l7policy}/rules"


# The reads of a tree: (label, needs, path).
TREE_READS: list[tuple[str, Rule, Callable[[Tree], str]]] = [
    ("#3 GET loadbalancer", READ, lambda t: f"{LBS}/{t.lb}"),
    ("#6 GET loadbalancer stats", READ, lambda t: f"{LBS}/{t.lb}/stats"),
    ("#7 GET loadbalancer status", READ, lambda t: f"{LBS}/{t.lb}/status"),
    ("#11 GET listener", READ, lambda t: f"{LISTENERS}/{t.listener}"),
    ("#14 GET listener stats", READ, lambda t: f"{LISTENERS}/{t.listener}/stats"),
    ("#17 GET pool", READ, lambda t: f"{POOLS}/{t.pool}"),
    ("#20 GET members", READ | SERVICE, members),
    ("#22 GET member", READ, lambda t: f"{members(t)}/{t.member}"),
    ("#28 GET healthmonitor", READ, lambda t: f"{HEALTH_MONITORS}/{t.healthmonitor}"),
    ("#33 GET l7policy", READ, lambda t: f"{L7POLICIES}/{t.l7policy}"),
    ("#36 GET l7rules", READ, rules),
    ("#38 GET l7rule", READ, lambda t: f"{rules(t)}/{t.l7rule}"),
]


def test_reads_and_scoped_lists(api: Api, matrix: Matrix) -> None:
    mine, theirs = plant(api, [PROJECT, OTHER_PROJECT])
    for label, needs, locate in TREE_READS:
        matrix.every_caller(label, needs, 200, getter(locate(mine)))

    def ids(pick: Callable[[Tree], Sequence[str]]) -> dict[str, set[str]]:
        return {tree.project: set(pick(tree)) for tree in (mine, theirs)}

    for label, path, key, pick in [
        ("#1 GET loadbalancers", LBS, "loadbalancers", lambda t: [t.lb]),
        ("#9 GET listeners", LISTENERS, "listeners", lambda t: [t.listener]),
        ("#15 GET pools", POOLS, "pools", lambda t: [t.pool, t.spare_pool]),
        ("#26 GET healthmonitors", HEALTH_MONITORS, "healthmonitors", lambda t: [t.healthmonitor]),
        ("#31 GET l7policies", L7POLICIES, "l7policies", lambda t: [t.l7policy]),
    ]:
        matrix.lists(label, path, key, READ, READ_GLOBAL, ids(pick))
    matrix.verify()


def test_load_balancer_writes(api: Api, matrix: Matrix, trees: list[Tree]) -> None:
    def create(caller: Api) -> httpx.Response:
        body: dict[str, Any] = {"vip_subnet_id": VIP_SUBNET}
        if caller.headers["X-Project-Id"] != PROJECT:  # acting for the owner project
            body["project_id"] = PROJECT
        return caller.post(LBS, {"loadbalancer": body})

    matrix.every_caller("#2 POST loadbalancer", WRITE, 201, create)
    matrix.sweep(
        "#4 PUT loadbalancer",
        WRITE,
        200,
        trees,
        lambda caller, t: caller.put(f"{LBS}/{t.lb}", {"loadbalancer": {"name": "renamed"}}),
    )
    settle(api, trees)
    failover = ("#8 PUT loadbalancer failover", ADMIN, 202)
    matrix.sweep(*failover, trees, lambda caller, t: caller.put(f"{LBS}/{t.lb}/failover"))
    settle(api, trees)
    matrix.sweep(
        "#5 DELETE loadbalancer",
        WRITE,
        204,
        trees,
        lambda caller, t: caller.delete(f"{LBS}/{t.lb}", params={"cascade": "true"}),
    )
    matrix.verify()


def test_listener_writes(api: Api, matrix: Matrix, trees: list[Tree]) -> None:
    body = {"protocol": "HTTP", "protocol_port": 81}
    matrix.sweep(
        "#10 POST listener",
        WRITE,
        201,
        trees,
        lambda caller, t: caller.post(LISTENERS, {"listener": {**body, "loadbalancer_id": t.lb}}),
    )
    settle(api, trees)
    matrix.sweep(
        "#12 PUT listener",
        WRITE,
        200,
        trees,
        lambda caller, t: caller.put(f"{LISTENERS}/{t.listener}", {"listener": {"name": "x"}}),
    )
    settle(api, trees)
    matrix.sweep(
        "#13 DELETE listener",
        WRITE,
        204,
        trees,
        lambda caller, t: caller.delete(f"{LISTENERS}/{t.listener}"),
    )
    matrix.verify()


def test_pool_writes(api: Api, matrix: Matrix, trees: list[Tree]) -> None:
    body = {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}
    matrix.sweep(
        "#16 POST pool",
        WRITE,
        201,
        trees,
        lambda caller, t: caller.post(POOLS, {"pool": {**body, "loadbalancer_id": t.lb}}),
    )
    settle(api, trees)
    matrix.sweep(
        "#18 PUT pool",
        WRITE,
        200,
        trees,
        lambda caller, t: caller.put(f"{POOLS}/{t.pool}", {"pool": {"name": "x"}}),
    )
    settle(api, trees)
    matrix.sweep(
        "#19 DELETE pool",
        WRITE,
        204,
        trees,
        lambda caller, t: caller.delete(f"{POOLS}/{t.spare_pool}"),
    )
    matrix.verify()


def test_member_writes(api: Api, matrix: Matrix, trees: list[Tree]) -> None:
    newcomer = {"address": "203.0.113.20", "protocol_port": 80}
    matrix.sweep(
        "#21 POST member",
        WRITE,
        201,
        trees,
        lambda caller, t: caller.post(members(t), {"member": newcomer}),
    )
    settle(api, trees)
    matrix.sweep(
        "#23 PUT member",
        WRITE,
        200,
        trees,
        lambda caller, t: caller.put(f"{members(t)}/{t.member}", {"member": {"weight": 5}}),
    )
    settle(api, trees)
    kept = {"address": "203.0.113.10", "protocol_port": 80, "weight": 7}

    def batch(params: dict[str, str], added: str) -> Callable[[Api, Tree], httpx.Response]:
        body = {"members": [kept, {"address": added, "protocol_port": 80}]}
        return lambda caller, t: caller.put(members(t), body, params=params)

    for label, params, added in [
        ("#24 PUT members (batch)", {}, "203.0.113.30"),
        ("#24 PUT members?additive_only=true", {"additive_only": "true"}, "203.0.113.31"),
    ]:
        matrix.sweep(label, WRITE, 202, trees, batch(params, added))
        settle(api, trees)
    matrix.sweep(
        "#25 DELETE member",
        WRITE,
        204,
        trees,
        lambda caller, t: caller.delete(f"{members(t)}/{t.member}"),
    )
    matrix.verify()


def test_health_monitor_writes(api: Api, matrix: Matrix, trees: list[Tree]) -> None:
    monitor = {"type": "TCP", "delay": 5, "timeout": 5, "max_retries": 3}
    matrix.sweep(
        "#27 POST healthmonitor",
        WRITE,
        201,
        trees,
        lambda caller, t: caller.post(
            HEALTH_MONITORS, {"healthmonitor": {**monitor, "pool_id": t.spare_pool}}
        ),
    )
    settle(api, trees)
    matrix.sweep(
        "#29 PUT healthmonitor",
        WRITE,
        200,
        trees,
        lambda caller, t: caller.put(
            f"{HEALTH_MONITORS}/{t.healthmonitor}", {"healthmonitor": {"delay": 7}}
        ),
    )
    settle(api, trees)
    matrix.sweep(
        "#30 DELETE healthmonitor",
        WRITE,
        204,
        trees,
        lambda caller, t: caller.delete(f"{HEALTH_MONITORS}/{t.healthmonitor}"),
    )
    matrix.verify()


def test_l7policy_writes(api: Api, matrix: Matrix, trees: list[Tree]) -> None:
    matrix.sweep(
        "#32 POST l7policy",
        WRITE,
        201,
        trees,
        lambda caller, t: caller.post(
            L7POLICIES, {"l7policy": {"listener_id": t.listener, "action": "REJECT"}}
        ),
    )
    settle(api, trees)
    matrix.sweep(
        "#34 PUT l7policy",
        WRITE,
        200,
        trees,
        lambda caller, t: caller.put(f"{L7POLICIES}/{t.l7policy}", {"l7policy": {"name": "x"}}),
    )
    settle(api, trees)
    matrix.sweep(
        "#35 DELETE l7policy",
        WRITE,
        204,
        trees,
        lambda caller, t: caller.delete(f"{L7POLICIES}/{t.l7policy}"),
    )
    matrix.verify()


def test_l7rule_writes(api: Api, matrix: Matrix, trees: list[Tree]) -> None:
    rule = {"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "example.com"}
    matrix.sweep(
        "#37 POST l7rule",
        WRITE,
        201,
        trees,
        lambda caller, t: caller.post(rules(t), {"rule": rule}),
    )
    settle(api, trees)
    matrix.sweep(
        "#39 PUT l7rule",
        WRITE,
        200,
        trees,
        lambda caller, t: caller.put(f"{rules(t)}/{t.l7rule}", {"rule": {"value": "/v2"}}),
    )
    settle(api, trees)
    matrix.sweep(
        "#40 DELETE l7rule",
        WRITE,
        204,
        trees,
        lambda caller, t: caller.delete(f"{rules(t)}/{t.l7rule}"),
    )
    matrix.verify()


# -- quotas and providers -----------------------------------------------------------------


def test_quotas(api: Api, matrix: Matrix) -> None:
    limits = {"quota": {"load_balancer": 10}}
    for project in (PROJECT, OTHER_PROJECT):
        expect(api.put(f"{QUOTAS}/{project}", limits), 202)
    ids = {PROJECT: {PROJECT}, OTHER_PROJECT: {OTHER_PROJECT}}
    matrix.lists(
        "#41 GET quotas", QUOTAS, "quotas", READ_QUOTA, READ_QUOTA_GLOBAL, ids, ident="project_id"
    )
    mine = f"{QUOTAS}/{PROJECT}"
    matrix.every_caller(
        "#42 GET quotas/{project_id}/default",
        READ_QUOTA,
        200,
        lambda caller: caller.get(f"{mine}/default"),
    )
    # The api-ref's /quotas/defaults reaches GET /quotas/{project_id}: a project "defaults".
    matrix.every_caller(
        "#42 GET quotas/defaults",
        READ_QUOTA,
        200,
        lambda caller: caller.get(f"{QUOTAS}/defaults"),
        owner="defaults",
    )
    matrix.every_caller("#43 GET quota", READ_QUOTA, 200, lambda caller: caller.get(mine))
    matrix.every_caller("#44 PUT quota", WRITE_QUOTA, 202, lambda caller: caller.put(mine, limits))

    def reset(caller: Api) -> httpx.Response:
        expect(api.put(mine, limits), 202)  # a custom quota to reset, every time
        return caller.delete(mine)

    matrix.every_caller("#45 DELETE quota", WRITE_QUOTA, 202, reset)
    matrix.verify()


def test_providers(matrix: Matrix) -> None:
    matrix.every_caller(
        "#46 GET providers", READ, 200, lambda caller: caller.get(PROVIDERS), owner=None
    )
    for row, capabilities in [(47, "flavor"), (48, "availability_zone")]:
        path = f"{PROVIDERS}/amphora/{capabilities}_capabilities"
        matrix.every_caller(
            f"#{row} GET {capabilities} capabilities",
            ADMIN,
            200,
            getter(path),
            owner=None,
        )
    matrix.verify()


# -- flavors, availability zones and their profiles ---------------------------------------


@dataclass(frozen=True)
class Catalog:
    """Flavors or availability zones with their profiles: the same calls, other names."""

    first_row: int
    path: str
    key: str
    profiles: str
    profile_key: str
    profile_id: str
    data: str
    by_name: bool


CATALOGS = [
    Catalog(
        49,
        "/v2.0/lbaas/flavors",
        "flavor",
        "/v2.0/lbaas/flavorprofiles",
        "flavorprofile",
        "flavor_profile_id",
        "flavor_data",
        by_name=False,
    ),
    Catalog(
        59,
        "/v2.0/lbaas/availabilityzones",
        "availability_zone",
        "/v2.0/lbaas/availabilityzoneprofiles",
        "availability_zone_profile",
        "availability_zone_profile_id",
        "availability_zone_data",
        by_name=True,
    ),
]


@pytest.mark.parametrize("catalog", CATALOGS, ids=lambda c: c.key)
def test_catalog(api: Api, matrix: Matrix, catalog: Catalog) -> None:
    """Who may read and manage flavors or zones and their profiles. Octavia checks these calls
    against the caller's own project, so both projects' callers get the same answers."""

    def new_profile(caller: Api, _: object = None) -> httpx.Response:
        body = {"name": f"p-{new_id()}", "provider_name": "amphora", catalog.data: "{}"}
        return caller.post(catalog.profiles, {catalog.profile_key: body})

    def new_entry(caller: Api, profile_id: str) -> httpx.Response:
        body = {"name": f"e-{new_id()}", catalog.profile_id: profile_id}
        return caller.post(catalog.path, {catalog.key: body})

    # Five of each: one for the refused callers, one for each admin (two personas, two projects).
    profiles = [expect(new_profile(api), 201)[catalog.profile_key]["id"] for _ in range(5)]
    created = [expect(new_entry(api, profiles[0]), 201)[catalog.key] for _ in range(5)]
    entries = [entry["name" if catalog.by_name else "id"] for entry in created]
    one, one_profile = f"{catalog.path}/{{id}}", f"{catalog.profiles}/{{id}}"
    row = catalog.first_row
    for offset, needs, label, path in [
        (0, READ, catalog.path, catalog.path),
        (2, READ, one, f"{catalog.path}/{entries[0]}"),
        (5, ADMIN, catalog.profiles, catalog.profiles),
        (7, ADMIN, one_profile, f"{catalog.profiles}/{profiles[0]}"),
    ]:
        matrix.every_caller(f"#{row + offset} GET {label}", needs, 200, getter(path), owner=None)
    writes: list[tuple[str, int, list[str], Callable[[Api, str], httpx.Response]]] = [
        (f"#{row + 1} POST {catalog.path}", 201, [profiles[0]] * 5, new_entry),
        (
            f"#{row + 3} PUT {one}",
            200,
            entries,
            lambda c, e: c.put(f"{catalog.path}/{e}", {catalog.key: {"description": "x"}}),
        ),
        (f"#{row + 4} DELETE {one}", 204, entries, lambda c, e: c.delete(f"{catalog.path}/{e}")),
        (f"#{row + 6} POST {catalog.profiles}", 201, profiles, new_profile),
        (
            f"#{row + 8} PUT {one_profile}",
            200,
            profiles,
            lambda c, p: c.put(f"{catalog.profiles}/{p}", {catalog.profile_key: {"name": "x"}}),
        ),
        # The refused callers aim at profiles[0], in use by every entry: 403 comes first.
        (
            f"#{row + 9} DELETE {one_profile}",
            204,
            profiles,
            lambda c, p: c.delete(f"{catalog.profiles}/{p}"),
        ),
    ]
    for label, success, targets, send in writes:
        matrix.sweep(label, ADMIN, success, targets, send, owner=None)
    matrix.verify()


# -- the amphora admin API ---------------------------------------------------------------


def test_amphorae(ostia: Ostia, api: Api, matrix: Matrix, trees: list[Tree]) -> None:
    """Every amphora call is the admin's (§9.3), whatever the project of its load balancer.
    The noop provider builds none: an ALLOCATED and an ERROR amphora per tree are written
    as the amphora provider would."""
    allocated, broken = [], []
    with ostia.db.write() as session:
        for tree in trees:
            for status, found in (("ALLOCATED", allocated), ("ERROR", broken)):
                found.append(new_id())
                session.add(
                    Amphora(id=found[-1], load_balancer_id=tree.lb, status=status, role="MASTER")
                )
    one = f"{AMPHORAE}/{allocated[0]}"
    matrix.every_caller("#69 GET amphorae", ADMIN, 200, getter(AMPHORAE), owner=None)
    matrix.every_caller("#70 GET amphora", ADMIN, 200, getter(one), owner=None)
    for label, success, targets, action in [
        ("#72 PUT amphora config", 202, allocated, "config"),
        ("#73 PUT amphora failover", 202, allocated, "failover"),
    ]:
        matrix.sweep(
            label,
            ADMIN,
            success,
            targets,
            lambda caller, a, action=action: caller.put(f"{AMPHORAE}/{a}/{action}"),
        )
        settle(api, trees)
    matrix.sweep(
        "#74 DELETE amphora", ADMIN, 204, broken, lambda caller, a: caller.delete(f"{AMPHORAE}/{a}")
    )
    matrix.verify()
