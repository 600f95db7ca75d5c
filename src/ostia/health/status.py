"""Operating statuses from a heartbeat, by Octavia's rules (INVENTORY §2.2).

A load balancer's tree is held as plain records (``LoadBalancerState``) with the operating
statuses currently known; ``evaluate`` says which of them a heartbeat changes. Objects being
deleted are never changed: the reconciler removes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ostia import constants

LOAD_BALANCER, LISTENER, POOL, MEMBER = "load_balancer", "listener", "pool", "member"

# HAProxy's words in `show stat` (status column).
OPEN, FULL = "OPEN", "FULL"
UP, DOWN, DRAIN, MAINT, NO_CHECK = "UP", "DOWN", "DRAIN", "MAINT", "no check"


@dataclass
class MemberState:
    operating_status: str
    deleting: bool = False


@dataclass
class PoolState:
    operating_status: str
    deleting: bool = False
    members: dict[str, MemberState] = field(default_factory=dict)


@dataclass
class ListenerState:
    operating_status: str
    enabled: bool = True
    deleting: bool = False
    # Run by HAProxy, so reported by a heartbeat: enabled, not UDP/SCTP, not being deleted.
    reported: bool = True


@dataclass
class LoadBalancerState:
    id: str
    operating_status: str
    provisioning_status: str
    enabled: bool = True
    listeners: dict[str, ListenerState] = field(default_factory=dict)
    pools: dict[str, PoolState] = field(default_factory=dict)
    # How many listeners HAProxy runs (those ``reported``), counted once read.
    reported_listeners: int = 0
    # Counts the changes ``apply`` made: a heartbeat saying what the previous one said, to
    # the same version, changes nothing.
    version: int = 0

    @property
    def deleting(self) -> bool:
        return self.provisioning_status in (constants.PENDING_DELETE, constants.DELETED)


@dataclass(frozen=True)
class Change:
    kind: str
    id: str
    status: str


def counts(lb: LoadBalancerState, message: dict[str, Any]) -> bool:
    """Whether the heartbeat reports as many listeners as the load balancer runs; otherwise
    Octavia ignores it (the amphora does not run what it should). A load balancer being
    changed or disabled is not counted."""
    if lb.provisioning_status in constants.PENDING_STATUSES or not lb.enabled:
        return True
    return len(message["listeners"]) == lb.reported_listeners


def _pools(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The heartbeat's backends by pool id (keys are ``<pool id>:<listener id>``); a pool
    used by several listeners is DOWN if any of its backends is, its members merged."""
    pools: dict[str, dict[str, Any]] = {}
    for key, backend in message["pools"].items():
        if not isinstance(backend, dict):
            continue
        pool_id = key.partition(":")[0]
        merged = pools.setdefault(pool_id, {"status": UP, "members": {}})
        if backend.get("status") != UP:
            merged["status"] = backend.get("status")
        members = backend.get("members")
        if isinstance(members, dict):
            merged["members"].update(members)
    return pools


def _member_status(reported: str | None, current: str) -> str | None:
    if reported is None:
        return None if current == constants.NO_MONITOR else constants.OFFLINE
    if reported.startswith(UP):  # "UP", or "UP 1/2" while going down
        return constants.ONLINE
    if reported.startswith(DOWN):  # "DOWN", or "DOWN 1/2" while coming up
        return constants.ERROR
    if reported == DRAIN:
        return constants.DRAINING
    if reported.startswith(MAINT):  # disabled, or "MAINT(via)"
        return constants.OFFLINE
    if reported == NO_CHECK:
        return constants.NO_MONITOR
    return None  # RESTARTING and the like: wait for a settled status


def evaluate(lb: LoadBalancerState, message: dict[str, Any]) -> list[Change]:
    """The operating statuses ``message`` changes in ``lb`` (which is left as it is)."""
    changes: list[Change] = []

    def change(kind: str, object_id: str, current: str, new: str | None) -> None:
        if new is not None and new != current:
            changes.append(Change(kind, object_id, new))

    lb_status = constants.ONLINE if lb.enabled else constants.OFFLINE
    reported_listeners = message["listeners"]
    for listener_id, listener in lb.listeners.items():
        status: str | None = None
        reported = reported_listeners.get(listener_id)
        if not isinstance(reported, dict):
            running = listener.enabled and lb.enabled
            active = lb.provisioning_status == constants.ACTIVE
            status = constants.ERROR if running and active else constants.OFFLINE
        elif reported.get("status") == OPEN:
            status = constants.ONLINE
        elif reported.get("status") == FULL:
            status = constants.DEGRADED
            if lb_status == constants.ONLINE:
                lb_status = constants.DEGRADED
        if not listener.deleting:
            change(LISTENER, listener_id, listener.operating_status, status)

    reported_pools = _pools(message)
    for pool_id, pool in lb.pools.items():
        backend = reported_pools.get(pool_id)
        if backend is None:
            if not pool.deleting:
                change(POOL, pool_id, pool.operating_status, constants.OFFLINE)
            continue
        pool_status: str | None = None
        if backend["status"] == UP:
            pool_status = constants.ONLINE
        elif backend["status"] == DOWN:
            pool_status = lb_status = constants.ERROR
        for member_id, member in pool.members.items():
            member_status = _member_status(
                backend["members"].get(member_id), member.operating_status
            )
            if member_status == constants.ERROR and pool_status == constants.ONLINE:
                pool_status = constants.DEGRADED
                if lb_status == constants.ONLINE:
                    lb_status = constants.DEGRADED
            if not member.deleting and not pool.deleting:
                change(MEMBER, member_id, member.operating_status, member_status)
        if not pool.deleting:
            change(POOL, pool_id, pool.operating_status, pool_status)

    if not lb.deleting:
        change(LOAD_BALANCER, lb.id, lb.operating_status, lb_status)
    return changes


def apply(lb: LoadBalancerState, changes: list[Change]) -> dict[tuple[str, str], str]:
    """Record ``changes`` in ``lb`` (so the next heartbeat compares with them); the statuses
    they replace."""
    if not changes:
        return {}
    members = {m_id: m for pool in lb.pools.values() for m_id, m in pool.members.items()}
    previous: dict[tuple[str, str], str] = {}
    for item in changes:
        target: Any
        if item.kind == LOAD_BALANCER:
            target = lb
        elif item.kind == LISTENER:
            target = lb.listeners[item.id]
        elif item.kind == POOL:
            target = lb.pools[item.id]
        else:
            target = members[item.id]
        previous[(item.kind, item.id)] = target.operating_status
        target.operating_status = item.status
    lb.version += 1
    return previous
