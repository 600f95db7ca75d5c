"""What ``GET /1.0/details`` reports about the machine, and the connection limit HAProxy can
reach under this process's file descriptor limit."""

from __future__ import annotations

import os
import re
import resource
from pathlib import Path
from typing import Any

# HAProxy needs two descriptors per connection (client and server side) plus one per listener,
# per server health check, per CLI socket…: 2 * maxconn + overhead must fit in RLIMIT_NOFILE,
# else it exits with "Cannot raise FD limit" (DATAPLANE_NOTES P1). The overhead was measured at
# ~40 for one frontend and ~2140 for 100 frontends with 2000 checked servers.
FD_RESERVE = 1024
# Octavia's ceiling for maxconn.
MAX_CONNECTIONS = 1_000_000


def fd_limit() -> int | None:
    """The hard RLIMIT_NOFILE (HAProxy raises its soft limit up to it); None if unlimited."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return None if hard == resource.RLIM_INFINITY else hard


def max_connections(limit: int | None) -> int:
    """The largest global ``maxconn`` HAProxy can start with, leaving FD_RESERVE descriptors
    for listeners, health checks and sockets. A connection takes two descriptors, and with
    splicing HAProxy also opens ``maxconn / 4`` pipes of two: 2.5 per connection."""
    if limit is None:
        return MAX_CONNECTIONS
    return max(0, min(MAX_CONNECTIONS, (limit - FD_RESERVE) * 2 // 5))


def _meminfo() -> dict[str, int]:
    values = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        match = re.match(r"^(\S+):\s+(\d+)\s*kB", line)
        if match:
            values[match.group(1)] = int(match.group(2))
    return values


def machine(directory: Path) -> dict[str, Any]:
    """cpu, memory, disk and load as Octavia's agent reports them."""
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()
    memory = _meminfo()
    disk = os.statvfs(directory)
    return {
        "cpu_count": os.cpu_count(),
        "cpu": {
            "total": sum(int(value) for value in cpu[1:]),
            "user": cpu[1],
            "system": cpu[3],
            "soft_irq": cpu[7],
        },
        "memory": {
            "total": memory.get("MemTotal", 0),
            "free": memory.get("MemFree", 0),
            "buffers": memory.get("Buffers", 0),
            "cached": memory.get("Cached", 0),
            "swap_used": memory.get("SwapCached", 0),
            "shared": memory.get("Shmem", 0),
            "slab": memory.get("Slab", 0),
        },
        "disk": {
            "used": (disk.f_blocks - disk.f_bfree) * disk.f_frsize,
            "available": disk.f_bavail * disk.f_frsize,
        },
        "load": Path("/proc/loadavg").read_text().split()[:3],
    }
