"""Traffic through a load balancer's VIP against the same traffic through a hand-written HAProxy.

One real ``ostia up`` process (the amphora provider) builds a load balancer (``--topology``,
SINGLE by default) with an HTTP listener on port 80, a ROUND_ROBIN pool of two members and an
HTTP health monitor, through the Octavia API. The baseline, started by the bench in its own
namespace on the same networks, is an HAProxy with a hand-written configuration doing the same
(round robin over the same two members, the same checks; HAProxy's defaults otherwise).

- Client: ``wrk`` (``-t1 -c<connections>``, ``--latency``) in the client's namespace on the VIP
  network, against the VIP and against the baseline's address, in turns, ``--rounds`` times
  each (the order alternates so that drifting load on the machine hits both alike), after a
  warm-up. Both keep-alive connections and a new connection per request (``Connection:
  close``) are measured.
- Members: two HAProxy processes (one thread each) answering every request with their name
  (``http-request return``): a fast server, so the members are not the bottleneck
  (DATAPLANE_NOTES P7); the client also measures one member directly, for reference.
- Everything shares this machine's CPUs: the client, the load balancer and the members.

It prints requests/s and latency p50/p99 (wrk's) of each, the medians over the rounds, and
the ratio VIP / hand-written (goal: at least 0.95 for requests/s).

    .venv/bin/python bench/dataplane.py [--seconds 10] [--rounds 3] [--connections 8]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass

from dpsite import MEMBER_PORT, BenchError, http_get, open_site

MODES = {"keep-alive": [], "close": ["-H", "Connection: close"]}
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass
class Run:
    rps: float
    p50: float
    p99: float
    errors: int

    @staticmethod
    def parse(output: str) -> Run:
        def latency(percent: str) -> float:
            found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
            if found is None:
                raise BenchError(f"no {percent}% latency in wrk's output:\n{output}")
            return float(found.group(1)) * UNITS[found.group(2)]

        rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
        if rps is None:
            raise BenchError(f"no Requests/sec in wrk's output:\n{output}")
        errors = sum(
            int(n)
            for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output)
            + re.findall(r"Non-2xx or 3xx responses: (\d+)", output)
        )
        return Run(float(rps.group(1)), latency("50"), latency("99"), errors)


def wrk(namespace: str, url: str, seconds: int, connections: int, mode: str) -> Run:
    """One wrk run from ``namespace``, killed if it outlives its duration by 30 s."""
    argv = ["ip", "netns", "exec", namespace, "wrk", "-t1", f"-c{connections}"]
    argv += [f"-d{seconds}s", "--latency", "--timeout", "2s", *MODES[mode], url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        raise BenchError(f"wrk failed: {done.stdout}{done.stderr}")
    return Run.parse(done.stdout)


def show(name: str, runs: list[Run]) -> Run:
    median = Run(
        statistics.median(r.rps for r in runs),
        statistics.median(r.p50 for r in runs),
        statistics.median(r.p99 for r in runs),
        sum(r.errors for r in runs),
    )
    each = ", ".join(f"{r.rps:.0f}" for r in runs)
    print(
        f"  {name:<30} {median.rps:9.0f} req/s   p50 {median.p50 * 1000:6.2f} ms   "
        f"p99 {median.p99 * 1000:6.2f} ms   errors {median.errors}   (rounds: {each})",
        flush=True,
    )
    return median


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="duration of one wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--topology", choices=("SINGLE", "ACTIVE_STANDBY"), default="SINGLE")
    args = parser.parse_args()
    if not (1 <= args.seconds <= 120 and 1 <= args.rounds <= 10 and 1 <= args.connections <= 256):
        raise SystemExit("--seconds: 1 to 120, --rounds: 1 to 10, --connections: 1 to 256")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    results: dict[str, dict[str, Run]] = {}
    with open_site(args.topology) as site:
        client, _ = site.host("client", [(site.vip_subnet, "eth0"), (site.member_subnet, "eth1")])
        members = [site.member("m1"), site.member("m2")]
        lb = site.wait_lb(site.create_lb(site.http_lb("dataplane", members))["id"])
        vip = lb["vip_address"]
        _, by_hand = site.hand_written("byhand", members)
        for address in (vip, by_hand):
            bodies = sorted(http_get(client, address, 80) for _ in range(4))
            if bodies != ["m1", "m1", "m2", "m2"]:
                raise BenchError(f"{address} does not balance over m1 and m2: {bodies}")
        targets = {
            "VIP (Ostia's amphora)": f"http://{vip}/",
            "hand-written HAProxy": f"http://{by_hand}/",
        }
        print(
            f"client: wrk -t1 -c{args.connections} -d{args.seconds}s in {client}; members: "
            "HAProxy `http-request return`, 1 thread each",
            flush=True,
        )
        for mode in MODES:
            print(f"== {mode}: warming up", flush=True)
            for url in targets.values():
                wrk(client, url, 2, args.connections, mode)
            runs: dict[str, list[Run]] = {name: [] for name in targets}
            for round_ in range(args.rounds):
                order = list(targets) if round_ % 2 == 0 else list(reversed(targets))
                for name in order:
                    runs[name].append(
                        wrk(client, targets[name], args.seconds, args.connections, mode)
                    )
                    print(
                        f"  round {round_ + 1}, {name}: {runs[name][-1].rps:.0f} req/s", flush=True
                    )
            member_url = f"http://{members[0]}:{MEMBER_PORT}/"
            runs["one member, directly"] = [
                wrk(client, member_url, args.seconds, args.connections, mode)
            ]
            results[mode] = {name: show(name, samples) for name, samples in runs.items()}
    print("\nResults (medians over the rounds)")
    for mode, medians in results.items():
        ostia, baseline = medians["VIP (Ostia's amphora)"], medians["hand-written HAProxy"]
        print(
            f"  {mode:<11} VIP / hand-written: requests/s {ostia.rps / baseline.rps:.3f} "
            f"(goal >= 0.95: {'met' if ostia.rps / baseline.rps >= 0.95 else 'NOT met'}), "
            f"latency p50 {ostia.p50 / baseline.p50:.2f}x, p99 {ostia.p99 / baseline.p99:.2f}x; "
            f"one member directly: {medians['one member, directly'].rps:.0f} req/s"
        )


if __name__ == "__main__":
    main()
