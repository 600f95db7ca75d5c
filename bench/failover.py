"""What a client sees when amphorae die and Ostia replaces them by itself, and while the members
of a load balancer change.

One real ``ostia up`` process (the amphora provider, its health manager and failover watch,
heartbeats every ``--heartbeat-interval``, an amphora silent for ``--heartbeat-timeout`` failed
over) builds, through the Octavia API, an ACTIVE_STANDBY and a SINGLE load balancer, each with
an HTTP listener, a ROUND_ROBIN pool of two members (HAProxy servers answering their name) and
an HTTP monitor. A client in its own namespace sends a request every ``--interval`` (10 ms) at a
fixed rate, each on a new connection with a ``--timeout`` (0.5 s): a request fails when it is
refused, reset, times out or answers anything but 200. Killing an amphora is SIGKILL to every
process of its namespace (agent, HAProxy, keepalived), as if its machine died.

1. ACTIVE_STANDBY, ``--kills`` times in a row: ``--before`` seconds into a window of requests,
   the amphora holding the VIP is killed. Per kill: the takeover (first failed request to the
   first successful one sent after it, by send time; 0 when none failed; goal <= 0.4 s), the
   failed requests and their share of the window (``--seconds``, longer when the replacement
   takes longer), the failures after the takeover, and the time from the kill until the
   redundancy is restored: the load balancer ACTIVE on two ALLOCATED amphorae, MASTER and
   BACKUP, the dead one gone (``GET /v2/octavia/amphorae``, as admin; goal <= 5 s). Also when
   the watch noticed (the load balancer went PENDING_UPDATE).
2. SINGLE, ``--single-kills`` times: its amphora killed; the traffic back (kill to the first
   successful request sent after the first failure; goal <= 5 s, detection included), the
   failed requests, and when the replacement was ACTIVE.
3. Member changes on the ACTIVE_STANDBY load balancer while the client sends: add a member,
   change a weight, disable, delete, enable, each until ACTIVE again, then one more second of
   requests. Printed for each: the failed requests (goal: none) and which members answered.

At the end, the failovers Ostia's log reports are compared with the kills (a failover of an
amphora that was not killed is a false one).

    .venv/bin/python bench/failover.py [--kills 20] [--single-kills 3] [--heartbeat-timeout 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from dpsite import LBS, BenchError, Site, open_site
from ostia.config import HealthSettings
from ostia.db.models import Amphora, AmphoraHealth
from ostia.drivers.netns import inside, namespace_pids

TAKEOVER_GOAL = 0.4
RESTORED_GOAL = 5.0
TRAFFIC_BACK_GOAL = 5.0
VIP_WAIT = 10.0
HEARD_WAIT = 30.0
# A replacement is detected after a heartbeat timeout and then built: generous, but bounded.
REPLACED_WITHIN = 120.0
AFTER_CHANGE = 1.0
AMPHORAE = "/v2/octavia/amphorae"
FAILOVER_LOG = re.compile(r"amphorae (.+) of load balancer (\S+) are silent")


@dataclass
class Answer:
    sent: float  # time.monotonic()
    body: str | None  # None: the request failed
    error: str = ""


class Client:
    """Requests sent at a fixed rate from ``namespace``, each on a new connection and bounded
    by ``timeout``, in a thread of their own, until ``stop`` or ``limit`` seconds."""

    def __init__(
        self, namespace: str, host: str, interval: float, timeout: float, limit: float
    ) -> None:
        self.namespace, self.host = namespace, host
        self.interval, self.timeout = interval, timeout
        self.count = int(limit / interval)
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._request = f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()

    def __enter__(self) -> Client:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(self.timeout * 4 + 1)

    def _run(self) -> None:
        # Sockets made by this thread (the event loop's) belong to the client's namespace.
        with inside(self.namespace):
            asyncio.run(self._send_all())

    async def _send_all(self) -> None:
        start = time.monotonic()
        pending = []
        for i in range(self.count):
            if self._stop.is_set():
                break
            await asyncio.sleep(max(0.0, start + i * self.interval - time.monotonic()))
            pending.append(asyncio.create_task(self._one()))
        await asyncio.gather(*pending)

    async def _one(self) -> None:
        sent = time.monotonic()
        try:
            body: str | None = await asyncio.wait_for(self._exchange(), self.timeout)
            error = ""
        except (OSError, TimeoutError, ValueError) as exc:
            body, error = None, f"{type(exc).__name__}: {exc}"
        self.answers.append(Answer(sent, body, error))

    async def _exchange(self) -> str:
        reader, writer = await asyncio.open_connection(self.host, 80)
        try:
            writer.write(self._request)
            data = await reader.read()
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise ValueError(head.split(b"\r\n")[0].decode(errors="replace") or "no answer")
        return body.decode()

    def between(self, start: float, end: float) -> list[Answer]:
        return sorted(
            (a for a in list(self.answers) if start <= a.sent < end), key=lambda a: a.sent
        )


@dataclass
class Outage:
    """What the client saw around one kill."""

    requests: int
    failed: int
    after_kill: float | None  # kill -> first failure
    back: float | None  # first failure -> first success sent after it (the takeover)
    late: list[Answer]  # failures sent after that success
    errors: Counter[str]

    @classmethod
    def of(cls, answers: list[Answer], killed: float) -> Outage:
        failures = [a for a in answers if a.body is None]
        errors = error_kinds(failures)
        after = [a for a in failures if a.sent >= killed]
        if not after:
            return cls(len(answers), len(failures), None, 0.0, [], errors)
        first = after[0]
        success = next((a for a in answers if a.sent > first.sent and a.body is not None), None)
        back = success.sent - first.sent if success else None
        late = [a for a in failures if success and a.sent > success.sent]
        return cls(len(answers), len(failures), first.sent - killed, back, late, errors)

    @property
    def share(self) -> float:
        return self.failed / max(1, self.requests)

    def describe_late(self, killed: float) -> str:
        """The failures after the takeover: when (from the kill) and why."""
        return ", ".join(f"+{a.sent - killed:.2f} s {a.error}" for a in self.late)

    def since_kill(self) -> float | None:
        """Kill -> first success after the first failure (0: nothing failed)."""
        if self.after_kill is None:
            return 0.0
        return None if self.back is None else self.after_kill + self.back


@dataclass
class Replacement:
    """When the load balancer went PENDING_UPDATE and when it was whole again, from the kill."""

    detected: float | None
    restored: float
    survivors_kept: bool  # the amphorae that were not killed are still there


@dataclass
class Kill:
    victim: Amphora
    processes: int
    outage: Outage
    replacement: Replacement
    window: float


def error_kinds(failures: list[Answer]) -> Counter[str]:
    return Counter(a.error.split(":")[0] for a in failures)


def holder(site: Site, lb: dict[str, Any]) -> Amphora | None:
    """The amphora holding the VIP (None: none does)."""
    return next((a for a in site.amphorae(lb["id"]) if site.holds(a, lb["vip_address"])), None)


def kill_namespace(namespace: str) -> int:
    """SIGKILL every process in the amphora's namespace (Ostia's, started for this site)."""
    pids = namespace_pids(namespace)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def wait_until(check: Callable[[], bool], timeout: float, what: str, poll: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def heard(site: Site, lb_id: str) -> bool:
    """Every amphora of the load balancer has sent a heartbeat."""
    ids = {a.id for a in site.amphorae(lb_id)}
    with site.db.read() as session:
        found = set(
            session.scalars(
                select(AmphoraHealth.amphora_id).where(AmphoraHealth.amphora_id.in_(ids))
            )
        )
    return found == ids


def replaced(site: Site, lb_id: str, victim: str, count: int) -> list[dict[str, Any]] | None:
    """The amphorae, once the load balancer is ACTIVE on ``count`` ALLOCATED ones (MASTER and
    BACKUP for two), ``victim`` not among them."""
    lb = site.call("GET", f"{LBS}/{lb_id}")["loadbalancer"]
    if lb["provisioning_status"] == "ERROR":
        raise BenchError(f"load balancer {lb_id} went to ERROR; see {site.log}")
    if lb["provisioning_status"] != "ACTIVE":
        return None
    found = site.call("GET", f"{AMPHORAE}?loadbalancer_id={lb_id}", admin=True)["amphorae"]
    live = [a for a in found if a["status"] != "DELETED"]
    if len(live) != count or victim in {a["id"] for a in live}:
        return None
    if any(a["status"] != "ALLOCATED" for a in live):
        return None
    if count == 2 and sorted(a["role"] for a in live) != ["BACKUP", "MASTER"]:
        return None
    return list(live)


def await_replacement(
    site: Site, lb_id: str, victim: str, count: int, killed: float, before: set[str]
) -> Replacement:
    detected: float | None = None
    deadline = killed + REPLACED_WITHIN
    while True:
        now = time.monotonic()
        found = replaced(site, lb_id, victim, count)
        if found is not None:
            kept = before - {victim} <= {a["id"] for a in found}
            return Replacement(detected, now - killed, kept)
        if detected is None:
            status = site.call("GET", f"{LBS}/{lb_id}")["loadbalancer"]["provisioning_status"]
            if status == "PENDING_UPDATE":
                detected = now - killed
        if now > deadline:
            raise BenchError(f"amphora {victim} not replaced {REPLACED_WITHIN:g} s after the kill")
        time.sleep(0.05)


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def kill_master(site: Site, lb: dict[str, Any], client_ns: str, args: argparse.Namespace) -> Kill:
    wait_until(lambda: heard(site, lb["id"]), HEARD_WAIT, "heartbeats of both amphorae", 0.2)
    victim = holder(site, lb)
    if victim is None or victim.compute_id is None:
        raise BenchError("no amphora holds the VIP")
    before = {a.id for a in site.amphorae(lb["id"])}
    limit = args.seconds + REPLACED_WITHIN
    with Client(client_ns, lb["vip_address"], args.interval, args.timeout, limit) as client:
        start = time.monotonic()
        time.sleep(args.before)
        killed = time.monotonic()
        processes = kill_namespace(victim.compute_id)
        # The dead amphora keeps the VIP on its interface (nobody is left to remove it).
        others = [a for a in site.amphorae(lb["id"]) if a.id != victim.id]
        wait_until(
            lambda: any(site.holds(a, lb["vip_address"]) for a in others),
            VIP_WAIT,
            "the other amphora to take the VIP",
        )
        replacement = await_replacement(site, lb["id"], victim.id, 2, killed, before)
        end = max(start + args.seconds, killed + replacement.restored + AFTER_CHANGE)
        time.sleep(max(0.0, end - time.monotonic()))
    outage = Outage.of(client.between(start, end), killed)
    kill = Kill(victim, processes, outage, replacement, end - start)
    print(
        f"  killed the {processes} processes of {victim.role} {victim.id}: takeover "
        f"{ms(outage.back)} (first failure {ms(outage.after_kill)} after the kill); "
        f"{outage.failed}/{outage.requests} failed ({outage.share:.2%} of {kill.window:.1f} s), "
        f"{len(outage.late)} after the takeover {outage.describe_late(killed)}; "
        f"failover noticed after {secs(replacement.detected)}, "
        f"redundancy restored after {replacement.restored:.1f} s"
        f"{'' if replacement.survivors_kept else ' (THE SURVIVOR WAS REPLACED TOO)'}; "
        f"errors: {dict(outage.errors)}",
        flush=True,
    )
    return kill


def kill_single(site: Site, lb: dict[str, Any], client_ns: str, args: argparse.Namespace) -> Kill:
    wait_until(lambda: heard(site, lb["id"]), HEARD_WAIT, "heartbeats of the amphora", 0.2)
    (victim,) = site.amphorae(lb["id"])
    if victim.compute_id is None:
        raise BenchError(f"amphora {victim.id} has no namespace")
    limit = args.before + REPLACED_WITHIN + 30
    with Client(client_ns, lb["vip_address"], args.interval, args.timeout, limit) as client:
        start = time.monotonic()
        time.sleep(args.before)
        killed = time.monotonic()
        processes = kill_namespace(victim.compute_id)
        replacement = await_replacement(site, lb["id"], victim.id, 1, killed, {victim.id})
        wait_until(
            lambda: Outage.of(client.between(start, float("inf")), killed).since_kill() is not None,
            30.0,
            "a successful request after the kill",
        )
        time.sleep(AFTER_CHANGE)
        end = time.monotonic()
    outage = Outage.of(client.between(start, end), killed)
    back = outage.since_kill()
    print(
        f"  killed the {processes} processes of amphora {victim.id}: traffic back after "
        f"{'-' if back is None else f'{back:.2f} s'}; {outage.failed}/{outage.requests} failed, "
        f"{len(outage.late)} after that {outage.describe_late(killed)}; "
        f"failover noticed after {secs(replacement.detected)}, "
        f"load balancer ACTIVE on the replacement after {replacement.restored:.1f} s; "
        f"errors: {dict(outage.errors)}",
        flush=True,
    )
    return Kill(victim, processes, outage, replacement, end - start)


def member_changes(
    site: Site, lb: dict[str, Any], client_ns: str, extra: str, args: argparse.Namespace
) -> int:
    pool_id = lb["pools"][0]["id"]
    members = f"/v2/lbaas/pools/{pool_id}/members"

    def member_id(name: str) -> str:
        found = site.call("GET", f"{members}?name={name}")["members"]
        return str(found[0]["id"])

    steps = [
        ("add m3", "POST", members, {"member": site.member_body(extra, name="m3")}, 201),
        ("weight of m1 to 3", "PUT", "m1", {"member": {"weight": 3}}, 200),
        ("disable m2", "PUT", "m2", {"member": {"admin_state_up": False}}, 200),
        ("delete m3", "DELETE", "m3", None, 204),
        ("enable m2", "PUT", "m2", {"member": {"admin_state_up": True}}, 200),
    ]
    limit = 60.0 * len(steps)
    with Client(client_ns, lb["vip_address"], args.interval, args.timeout, limit) as client:
        time.sleep(AFTER_CHANGE)
        for name, method, target, body, status in steps:
            path = target if target.startswith("/") else f"{members}/{member_id(target)}"
            began = time.monotonic()
            site.call(method, path, body, expect=status)
            site.wait_lb(lb["id"], poll=0.02)
            took = time.monotonic() - began
            settled = time.monotonic()
            time.sleep(AFTER_CHANGE)
            answers = client.between(began, time.monotonic())
            failed = [a for a in answers if a.body is None]
            after = Counter(a.body for a in client.between(settled, time.monotonic()) if a.body)
            print(
                f"  {name:<18} ACTIVE in {took * 1000:5.0f} ms; {len(answers)} requests, "
                f"{len(failed)} failed; then answered by {dict(sorted(after.items()))}",
                flush=True,
            )
    return sum(1 for a in client.answers if a.body is None)


def failovers_logged(site: Site) -> list[str]:
    """The amphorae the failover watch failed over, from Ostia's log."""
    found: list[str] = []
    for match in FAILOVER_LOG.finditer(site.log.read_text(errors="replace")):
        found.extend(match.group(1).split(", "))
    return found


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def spread(values: list[float], scale: float, unit: str) -> str:
    return (
        f"p50 {statistics.median(values) * scale:.{0 if unit == 'ms' else 2}f} {unit}, "
        f"max {max(values) * scale:.{0 if unit == 'ms' else 2}f} {unit}"
    )


def report_pair(kills: list[Kill], args: argparse.Namespace) -> None:
    print(f"  ACTIVE_STANDBY, the MASTER (the VIP's holder) killed {len(kills)} times in a row:")
    for i, kill in enumerate(kills, 1):
        o, r = kill.outage, kill.replacement
        takeover = o.back if o.back is not None else float("inf")
        print(
            f"    kill {i:2}: takeover {takeover * 1000:5.0f} ms; failed {o.failed:3}/"
            f"{o.requests} = {o.share:6.2%} of {kill.window:4.1f} s, {len(o.late)} after the "
            f"takeover; redundancy restored {r.restored:5.2f} s (noticed "
            f"{'-' if r.detected is None else f'{r.detected:.1f}'} s)"
            f"{'' if r.survivors_kept else '; SURVIVOR REPLACED TOO'}"
        )
    takeovers = [k.outage.back if k.outage.back is not None else float("inf") for k in kills]
    restored = [k.replacement.restored for k in kills]
    shares = [k.outage.share for k in kills]
    late = sum(len(k.outage.late) for k in kills)
    print(
        f"    takeover: {spread(takeovers, 1000, 'ms')}; "
        f"{sum(t <= TAKEOVER_GOAL for t in takeovers)}/{len(kills)} within the goal "
        f"({verdict(max(takeovers) <= TAKEOVER_GOAL)}: goal <= {TAKEOVER_GOAL * 1000:.0f} ms)"
    )
    print(
        f"    redundancy restored: {spread(restored, 1, 's')}; "
        f"{sum(t <= RESTORED_GOAL for t in restored)}/{len(kills)} within the goal "
        f"({verdict(max(restored) <= RESTORED_GOAL)}: goal <= {RESTORED_GOAL:g} s)"
    )
    print(
        f"    failed-request share per kill: p50 {statistics.median(shares):.2%}, "
        f"max {max(shares):.2%} (windows of >= {args.seconds:g} s at "
        f"{1 / args.interval:.0f} requests/s; no goal in issue 5)"
    )
    print(f"    failed after the takeover: {late} in all ({verdict(late == 0)}: goal 0)")


def report_single(kills: list[Kill]) -> None:
    print(f"  SINGLE, its amphora killed {len(kills)} times:")
    for i, kill in enumerate(kills, 1):
        o, r = kill.outage, kill.replacement
        back = o.since_kill()
        print(
            f"    kill {i:2}: traffic back {'-' if back is None else f'{back:5.2f}'} s "
            f"(noticed {'-' if r.detected is None else f'{r.detected:.1f}'} s, ACTIVE on the "
            f"replacement {r.restored:.2f} s); failed {o.failed}/{o.requests}, {len(o.late)} after "
            f"the traffic came back"
        )
    backs = [b if (b := k.outage.since_kill()) is not None else float("inf") for k in kills]
    print(
        f"    traffic back: {spread(backs, 1, 's')}; "
        f"{sum(t <= TRAFFIC_BACK_GOAL for t in backs)}/{len(kills)} within the goal "
        f"({verdict(max(backs) <= TRAFFIC_BACK_GOAL)}: goal <= {TRAFFIC_BACK_GOAL:g} s, "
        f"detection included)"
    )


def main() -> None:
    health = HealthSettings()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=20, help="of the ACTIVE_STANDBY MASTER")
    parser.add_argument("--single-kills", type=int, default=3, help="of the SINGLE amphora")
    parser.add_argument("--seconds", type=float, default=20.0, help="shortest window of a kill")
    parser.add_argument("--before", type=float, default=3.0, help="seconds before the kill")
    parser.add_argument("--interval", type=float, default=0.01, help="between two requests")
    parser.add_argument("--timeout", type=float, default=0.5, help="of one request")
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=health.heartbeat_interval,
        help="[health] heartbeat_interval of Ostia (default: Ostia's)",
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=health.heartbeat_timeout,
        help="[health] heartbeat_timeout of Ostia (default: Ostia's)",
    )
    args = parser.parse_args()
    if not 0 <= args.kills <= 50 or not 0 <= args.single_kills <= 20:
        raise SystemExit("--kills: 0 to 50; --single-kills: 0 to 20")
    if not 0 < args.before < args.seconds <= 120:
        raise SystemExit("0 < --before < --seconds <= 120")
    if not 0.001 <= args.interval <= 1 or not 0.05 <= args.timeout <= 5:
        raise SystemExit("--interval: 0.001 to 1 s; --timeout: 0.05 to 5 s")
    if not 0 < args.heartbeat_interval < args.heartbeat_timeout <= 60:
        raise SystemExit("0 < --heartbeat-interval < --heartbeat-timeout <= 60")
    settings = {
        "OSTIA_HEALTH__HEARTBEAT_INTERVAL": str(args.heartbeat_interval),
        "OSTIA_HEALTH__HEARTBEAT_TIMEOUT": str(args.heartbeat_timeout),
    }
    began = time.monotonic()
    with open_site("ACTIVE_STANDBY", settings) as site:
        client_ns, _ = site.client()
        m1, m2, m3 = (site.member(name) for name in ("m1", "m2", "m3"))
        pair = site.wait_lb(site.create_lb(site.http_lb("pair", [m1, m2]))["id"])
        single_body = {**site.http_lb("single", [m1, m2]), "flavor_id": site.flavor("SINGLE")}
        single = site.wait_lb(site.create_lb(single_body)["id"])
        print(
            f"heartbeats every {args.heartbeat_interval:g} s, failover after "
            f"{args.heartbeat_timeout:g} s of silence; client: a request every "
            f"{args.interval * 1000:g} ms ({1 / args.interval:.0f}/s), new connection each, "
            f"timeout {args.timeout:g} s",
            flush=True,
        )
        pair_kills, single_kills = [], []
        for i in range(args.kills):
            print(f"== ACTIVE_STANDBY kill {i + 1}/{args.kills}", flush=True)
            pair_kills.append(kill_master(site, pair, client_ns, args))
        for i in range(args.single_kills):
            print(f"== SINGLE kill {i + 1}/{args.single_kills}", flush=True)
            single_kills.append(kill_single(site, single, client_ns, args))
        print("== member changes under load", flush=True)
        failed_changes = member_changes(site, pair, client_ns, m3, args)
        logged = failovers_logged(site)
    killed = Counter(k.victim.id for k in pair_kills + single_kills)
    print(
        f"\nResults (heartbeats every {args.heartbeat_interval:g} s, failover after "
        f"{args.heartbeat_timeout:g} s of silence; {time.monotonic() - began:.0f} s in all)"
    )
    if pair_kills:
        report_pair(pair_kills, args)
    if single_kills:
        report_single(single_kills)
    print(
        f"  member changes under load: {failed_changes} failed requests "
        f"({verdict(failed_changes == 0)}: goal 0)"
    )
    false = sorted(set(logged) - set(killed))
    missed = sorted(set(killed) - set(logged))
    twice = sorted(a for a, n in Counter(logged).items() if n > 1)
    print(
        f"  automatic failovers in Ostia's log: {len(logged)} for {sum(killed.values())} kills; "
        f"of amphorae not killed: {len(false)}, killed amphorae not failed over by the watch: "
        f"{len(missed)}, failed over more than once: {len(twice)} "
        f"({verdict(not false and not missed and not twice)}: goal one per kill)"
    )


if __name__ == "__main__":
    main()
