"""What an amphora costs in memory (and CPU at rest), and how many ACTIVE_STANDBY load balancers
a 24 GiB machine holds.

One real ``ostia up`` process (the amphora provider) builds, through the Octavia API, load
balancers with an HTTP listener, a ROUND_ROBIN pool of two members (HAProxy servers) and an
HTTP monitor (delay 5 s):

1. one SINGLE and one ACTIVE_STANDBY load balancer: RSS and PSS (``/proc/<pid>/smaps_rollup``)
   of each process of their amphorae: the agent, HAProxy's master and worker, keepalived's
   parent and VRRP child. PSS shares each shared page out among the processes mapping it, so
   the sum of PSS is what the amphorae cost in user memory; RSS counts shared libraries again
   in every process.
2. ``--count`` (20) more ACTIVE_STANDBY load balancers, one after the other: MemAvailable
   (``/proc/meminfo``) before and after them (after ``--settle`` seconds) gives their whole
   cost including the kernel's (namespaces, veths, sockets, page tables, their files); the sum
   of their processes' PSS gives the user-space part, the growth of Ostia's own process (its
   PSS) what the controller keeps for them; the CPU time their processes use over
   ``--idle`` seconds at rest (health checks, VRRP adverts, the agents' supervision) gives
   the CPU they take without traffic.

It prints the per-load-balancer figures and the extrapolation to 24 GiB (goal: at least 300
ACTIVE_STANDBY load balancers) with what else limits the count. MemAvailable is the whole
machine's: anything else starting or stopping meanwhile skews it (the load average is printed).

    .venv/bin/python bench/capacity.py [--count 20] [--settle 5] [--idle 10]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpsite import MANAGEMENT_CIDR, Site, open_site
from ostia.db.models import Amphora
from ostia.drivers.netns import namespace_pids

GIB = 1024**3
MIB = 1024**2
TARGET = 24 * GIB
GOAL = 300
# A Linux bridge takes at most this many ports (BR_MAX_PORTS); one bridge per network.
BRIDGE_PORTS = 1024
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Process:
    name: str
    pid: int
    rss: int  # bytes
    pss: int  # bytes
    cpu: float  # seconds used so far


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:  # it ended meanwhile
        return ""


def _rollup(pid: int) -> dict[str, int]:
    values = {}
    for line in _read(f"/proc/{pid}/smaps_rollup").splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) * 1024
    return values


def _parent_and_cpu(pid: int) -> tuple[int, float]:
    fields = _read(f"/proc/{pid}/stat").rpartition(")")[2].split()
    if not fields:
        return 0, 0.0
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def processes(amphora: Amphora) -> list[Process]:
    """The processes in the amphora's namespace, named by what they are."""
    assert amphora.compute_id is not None
    pids = namespace_pids(amphora.compute_id)
    programs = {pid: Path(_read(f"/proc/{pid}/cmdline").split("\0")[0]).name for pid in pids}
    found = []
    for pid in pids:
        parent, cpu = _parent_and_cpu(pid)
        program = programs[pid]
        child = programs.get(parent) == program
        if "ostia.agent" in _read(f"/proc/{pid}/cmdline"):
            name = "agent (Python)"
        elif program == "haproxy":
            name = "HAProxy worker" if child else "HAProxy master"
        elif program == "keepalived":
            name = "keepalived VRRP child" if child else "keepalived parent"
        else:
            name = program or "?"
        rollup = _rollup(pid)
        if rollup:
            found.append(Process(name, pid, rollup.get("Rss", 0), rollup.get("Pss", 0), cpu))
    return found


def mem_available() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no MemAvailable in /proc/meminfo")


def mib(value: float) -> str:
    return f"{value / MIB:7.1f} MiB"


def show_lb(site: Site, lb_id: str, title: str) -> int:
    """Print the load balancer's amphorae' processes; their total PSS."""
    print(f"{title}:")
    total_rss = total_pss = 0
    for amphora in site.amphorae(lb_id):
        print(f"  amphora {amphora.role} {amphora.id}")
        for process in sorted(processes(amphora), key=lambda p: p.name):
            print(f"    {process.name:<24} RSS {mib(process.rss)}   PSS {mib(process.pss)}")
            total_rss += process.rss
            total_pss += process.pss
    print(f"  {'total':<26} RSS {mib(total_rss)}   PSS {mib(total_pss)}", flush=True)
    return total_pss


def cpu_at_rest(amphorae: list[Amphora], seconds: float) -> float:
    """CPU seconds per second the amphorae' processes use over ``seconds`` (processes that
    start or end meanwhile, such as check scripts, count for what they used in the window)."""
    before = {p.pid: p.cpu for a in amphorae for p in processes(a)}
    time.sleep(seconds)
    after = {p.pid: p.cpu for a in amphorae for p in processes(a)}
    used = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    return used / seconds


def limits(per_lb_memory: float, per_lb_cpu: float) -> list[tuple[str, float]]:
    """How many ACTIVE_STANDBY load balancers each resource allows."""
    management = ipaddress.ip_network(MANAGEMENT_CIDR).num_addresses - 3  # gateway, controller
    return [
        (f"memory: 24 GiB / {per_lb_memory / MIB:.1f} MiB (MemAvailable)", TARGET / per_lb_memory),
        (f"management addresses ({MANAGEMENT_CIDR} here), 2 per load balancer", management / 2),
        (
            f"ports of the management bridge (at most {BRIDGE_PORTS}), 2 per load balancer",
            (BRIDGE_PORTS - 1) / 2,
        ),
        (
            f"CPU at rest: {os.cpu_count()} CPUs / {per_lb_cpu * 100:.2f} % of one each",
            (os.cpu_count() or 1) / per_lb_cpu if per_lb_cpu else float("inf"),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--count", type=int, default=20, help="ACTIVE_STANDBY load balancers")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before MemAvailable")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of CPU at rest")
    args = parser.parse_args()
    if not 1 <= args.count <= 100 or not 0 <= args.settle <= 60 or not 1 <= args.idle <= 120:
        raise SystemExit("--count: 1 to 100, --settle: 0 to 60, --idle: 1 to 120")
    with open_site() as site:
        members = [site.member("m1"), site.member("m2")]
        flavor = site.flavor("ACTIVE_STANDBY")

        def create(name: str, **extra: Any) -> str:
            lb_id = str(site.create_lb({**site.http_lb(name, members), **extra})["id"])
            site.wait_lb(lb_id)
            return lb_id

        single = create("single")
        pair = create("pair", flavor_id=flavor)
        time.sleep(args.settle)
        show_lb(site, single, "SINGLE load balancer")
        show_lb(site, pair, "ACTIVE_STANDBY load balancer")

        print(f"== {args.count} ACTIVE_STANDBY load balancers", flush=True)
        before, ostia_before = mem_available(), _rollup(site.ostia_pid)["Pss"]
        ids = []
        for i in range(args.count):
            ids.append(create(f"lb{i}", flavor_id=flavor))
            print(f"  {i + 1}/{args.count} ACTIVE", flush=True)
        time.sleep(args.settle)
        after, ostia_after = mem_available(), _rollup(site.ostia_pid)["Pss"]
        amphorae = [a for lb_id in ids for a in site.amphorae(lb_id)]
        by_name: dict[str, int] = defaultdict(int)
        for amphora in amphorae:
            for process in processes(amphora):
                by_name[process.name] += process.pss
        cpu = cpu_at_rest(amphorae, args.idle)

    per_lb = (before - after) / args.count
    pss = sum(by_name.values()) / args.count
    per_cpu = cpu / args.count
    ostia = (ostia_after - ostia_before) / args.count
    print(f"\nResults over {args.count} ACTIVE_STANDBY load balancers (2 amphorae each)")
    print(f"  MemAvailable: {mib(before)} before, {mib(after)} after")
    print(f"  per load balancer, MemAvailable      {mib(per_lb)}")
    print(f"  per load balancer, PSS of processes  {mib(pss)}")
    for name, total in sorted(by_name.items()):
        print(f"    {name:<32}  {mib(total / args.count)}")
    print(f"  per load balancer, Ostia's process   {mib(ostia)} (its PSS grew by that)")
    print(f"  per load balancer, kernel and files  {mib(per_lb - pss - ostia)} (the rest)")
    print(f"  per load balancer, CPU at rest       {per_cpu * 100:.3f} % of one CPU")
    print("How many ACTIVE_STANDBY load balancers, by each limit:")
    for what, count in limits(per_lb, per_cpu):
        print(f"  {count:8.0f}  {what}")
    by_memory = TARGET / per_lb
    print(
        f"24 GiB holds {by_memory:.0f} by memory (goal >= {GOAL}: "
        f"{'met' if by_memory >= GOAL else 'NOT met'}); by PSS alone {TARGET / pss:.0f}"
    )


if __name__ == "__main__":
    main()
