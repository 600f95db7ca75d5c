"""How long load balancers on real amphorae take to become ACTIVE, and where the time goes.

One real ``ostia up`` process (API and controller in one process, the amphora provider) on
SQLite; the bench acts as a project member through the Octavia API and polls every 10 ms,
as ``openstack loadbalancer create --wait`` would (faster). Scenarios, each over ``--count``
load balancers created one after the other (the earlier ones stay until the scenario ends, then
all are deleted):

- ``single``: a plain load balancer, SINGLE (the deployment's default topology);
- ``active_standby``: a plain one with a flavor whose ``loadbalancer_topology`` is
  ACTIVE_STANDBY;
- ``single-tree`` and ``active_standby-tree``: the fully populated single-call create
  (listener, pool, 2 members on a member network, HTTP monitor, an L7 policy with a rule).

It prints create -> ACTIVE (from sending the POST until the client sees ACTIVE) and delete ->
gone, p50 and p99, and when the events of a create happen: from the controller's log (when it
began building each amphora), the amphorae' own records (when the agent's files were written,
after the namespace and management port; the agent's log: listening, each request it answered)
and the client's clock. Goals (issue 4): SINGLE p50 <= 0.5 s,
ACTIVE_STANDBY full tree p50 <= 1.5 s.

With ``--spares N`` (default 4; 0: none) every scenario runs a second time on another
``ostia up`` whose spare amphora pool holds N amphorae (``[house_keeping]
spare_amphora_pool_size``), printed as ``<scenario>+spares``: a create claims booted
amphorae instead of booting them. Before each create the bench waits until the pool is full
again (a pool sized for the rate of creates); events of a claimed spare from before the POST
(its boot) are left out of the timeline.

Baseline, measured in the same run: an "amphora by hand", the floor of what one needs on this
machine: two ports made through the network API, a namespace with both plugged, a hand-written
HAProxy config checked and HAProxy started until it accepts connections.

    .venv/bin/python bench/provision.py [--count 20] [--baseline 10] [--spares 4]
        [--scenarios ...]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from api import percentile
from dpsite import Site, now, open_site
from ostia.db.models import Amphora

SCENARIOS = ("single", "active_standby", "single-tree", "active_standby-tree")
GOALS = {"single": 0.5, "active_standby-tree": 1.5}
# What an agent's log says, as (text in the line, the phase it ends), the first line found.
AGENT_EVENTS = (
    ("listening on", "agent listening"),
    ('"POST /1.0/plug/vip/', "VIP port configured"),
    ('/haproxy HTTP/1.1" 202', "HAProxy config rendered, uploaded"),
    ('/reload HTTP/1.1" 202', "HAProxy running"),
    ('"PUT /1.0/vrrp/start', "keepalived started"),
)
# The controller's log line at the end of an amphora's boot.
BOOTED = re.compile(r"amphora (\S+) booted in ([\d.]+) s")
SPARE_POOL_TIMEOUT = 120.0
VIP_OWNED = ('"GET /1.0/interface/', '" 200')

Timeline = list[tuple[float, str]]


def body(site: Site, name: str, tree: bool, members: list[str]) -> dict[str, object]:
    if not tree:
        return {"name": name}
    lb = site.http_lb(name, members)
    redirect = {
        "name": f"{name}-redirect",
        "action": "REDIRECT_TO_URL",
        "redirect_url": "http://example.com/new",
        "rules": [{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/old"}],
    }
    lb["listeners"][0]["l7policies"] = [redirect]
    return lb


def amphora_events(site: Site, lb_id: str) -> Timeline:
    """The amphorae' phases, from the controller's log, their files and their agents' logs
    (read before the load balancer is deleted: its amphorae' directories go with it)."""
    events: Timeline = []
    vip_owned: list[float] = []
    amphorae = site.amphorae(lb_id)
    roles = {amphora.id: str(amphora.role).lower() for amphora in amphorae}
    for line in site.log.read_text(errors="replace").splitlines():
        if (found := BOOTED.search(line)) and found.group(1) in roles:
            began = _stamp(line) - float(found.group(2))
            events.append((began, f"{roles.pop(found.group(1))}: controller began building it"))
    for amphora in amphorae:
        role = str(amphora.role).lower()
        directory = site.amphora_dir / amphora.id
        events.append(((directory / "agent.json").stat().st_mtime, f"{role}: namespace, files"))
        seen = set()
        for line in (directory / "agent.log").read_text(errors="replace").splitlines():
            for text, label in AGENT_EVENTS:
                if text in line and label not in seen:
                    seen.add(label)
                    events.append((_stamp(line), f"{role}: {label}"))
            if all(part in line for part in VIP_OWNED):
                vip_owned.append(_stamp(line))
    if vip_owned:
        events.append((min(vip_owned), "VIP owned (keepalived elected)"))
    return sorted(events)


def _stamp(line: str) -> float:
    """The time of a line of Ostia's or an agent's log (local time, to the millisecond)."""
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def ready_spares(site: Site) -> int:
    stmt = select(func.count()).where(Amphora.load_balancer_id.is_(None), Amphora.status == "READY")
    with site.db.read() as session:
        return int(session.scalar(stmt) or 0)


def wait_for_spares(site: Site, size: int) -> None:
    deadline = time.monotonic() + SPARE_POOL_TIMEOUT
    while ready_spares(site) < size:
        if time.monotonic() > deadline:
            raise SystemExit(f"the spare pool did not fill to {size} in {SPARE_POOL_TIMEOUT:g} s")
        time.sleep(0.05)


def run_scenario(
    site: Site, name: str, count: int, flavor: str | None, members: list[str], spares: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    tree = name.endswith("-tree")
    created, deleted, ids = [], [], []
    events: dict[str, list[float]] = defaultdict(list)
    for i in range(count):
        if spares:
            wait_for_spares(site, spares)
        request = body(site, f"{name}-{i}", tree, members)
        if flavor:
            request["flavor_id"] = flavor
        sent = now()
        lb_id = site.create_lb(request)["id"]
        answered = now()
        site.wait_lb(lb_id)
        active = now()
        created.append(active - sent)
        ids.append(lb_id)
        timeline = [
            (answered, "API answered 201"),
            *amphora_events(site, lb_id),
            (active, "ACTIVE seen by the client"),
        ]
        for at, label in timeline:
            if at >= sent:  # not a claimed spare's boot
                events[label].append(at - sent)
        print(f"    {i + 1}/{count}: {created[-1] * 1000:.0f} ms", flush=True)
    for lb_id in ids:
        began = now()
        site.delete_lb(lb_id)
        deleted.append(now() - began)
    return created, deleted, events


def baseline(site: Site, count: int, members: list[str]) -> list[float]:
    samples = []
    for i in range(count):
        began = now()
        site.hand_written(f"byhand{i}", members)
        samples.append(now() - began)
    return samples


def line(name: str, samples: list[float], goal: float | None = None) -> None:
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    verdict = ""
    if goal is not None:
        verdict = f"   goal p50 <= {goal * 1000:.0f} ms: {'met' if p50 <= goal else 'NOT met'}"
    print(f"  {name:<54} p50 {p50 * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms{verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20, help="load balancers per scenario")
    parser.add_argument("--baseline", type=int, default=10, help="amphorae built by hand")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument(
        "--spares", type=int, default=4, help="spare pool size of the second run (0: none)"
    )
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    if unknown := set(scenarios) - set(SCENARIOS):
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    if not 1 <= args.count <= 100 or not 0 <= args.baseline <= 50 or not 0 <= args.spares <= 20:
        raise SystemExit("--count: 1 to 100, --baseline: 0 to 50, --spares: 0 to 20")
    if any(name.startswith("active_standby") for name in scenarios) and args.spares == 1:
        raise SystemExit("--spares: an ACTIVE_STANDBY load balancer claims 2")
    results = {}
    by_hand: list[float] = []
    for spares in sorted({0, args.spares}):
        pool = {"OSTIA_HOUSE_KEEPING__SPARE_AMPHORA_POOL_SIZE": str(spares)}
        suffix = "+spares" if spares else ""
        with open_site(settings=pool) as site:
            members = [site.member("m1"), site.member("m2")]
            flavor = site.flavor("ACTIVE_STANDBY")
            for name in scenarios:
                print(f"== {name}{suffix}: {args.count} load balancers", flush=True)
                topology = flavor if name.startswith("active_standby") else None
                results[name + suffix] = run_scenario(
                    site, name, args.count, topology, members, spares
                )
            if not spares and args.baseline:
                by_hand = baseline(site, args.baseline, members)
    print("\nResults (create -> ACTIVE: POST sent until the client, polling every 10 ms, sees it)")
    for name, (created, deleted, events) in results.items():
        print(f"{name}:")
        line("create -> ACTIVE", created, GOALS.get(name.removesuffix("+spares")))
        line("delete -> 404", deleted)
        print("  a create's events, time since the POST was sent (amphorae are built at once):")
        for label in sorted(events, key=lambda label: statistics.median(events[label])):
            line(f"  {label}", events[label])
    if by_hand:
        print("baseline:")
        line("amphora by hand (2 ports, namespace, HAProxy up)", by_hand)
        floor = statistics.median(by_hand)
        for name, (created, *_) in results.items():
            ratio = statistics.median(created) / floor
            print(f"  {name}: create -> ACTIVE p50 = {ratio:.1f}x the hand-built amphora")


if __name__ == "__main__":
    main()
