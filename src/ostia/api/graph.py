"""The single-call ("fully populated") load balancer create: listeners, pools, members,
health monitors, L7 policies and rules in one request, with pools referenced by name."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ostia import constants
from ostia.api.routers.healthmonitors import build_health_monitor
from ostia.api.routers.l7policies import build_l7policy, build_l7rule
from ostia.api.routers.listeners import build_listener, check_pool_protocol
from ostia.api.routers.members import build_member
from ostia.api.routers.pools import build_pool
from ostia.api.schemas.listener import ListenerSingleCreate
from ostia.api.schemas.pool import PoolSingleCreate
from ostia.config import Settings
from ostia.db.models import LoadBalancer, Pool
from ostia.errors import ListenerNoChildren, SingleCreateDetailsMissing, ValidationFailure


def _is_full(pool: PoolSingleCreate) -> bool:
    """A pool given with more than its name is a definition; a bare name is a reference."""
    return bool(pool.model_fields_set - {"name"})


def collect_pools(
    listeners: list[ListenerSingleCreate], pools: list[PoolSingleCreate]
) -> dict[str, PoolSingleCreate]:
    """Every pool definition of the request by name, checking names and references."""
    definitions = list(pools)
    referenced: set[str] = set()
    nested = [li.default_pool for li in listeners] + [
        policy.redirect_pool for li in listeners for policy in li.l7policies or []
    ]
    for pool in nested:
        if pool is None:
            continue
        if not pool.name:
            raise ValidationFailure(
                detail="Pools must be named when creating a fully populated loadbalancer."
            )
        if _is_full(pool):
            definitions.append(pool)
        else:
            referenced.add(pool.name)
    names = [p.name for p in definitions]
    if None in names:
        raise ValidationFailure(
            detail="Pools must be named when creating a fully populated loadbalancer."
        )
    if len(set(names)) != len(names):
        raise ValidationFailure(
            detail="Pool names must be unique when creating a fully populated loadbalancer."
        )
    for name in sorted(referenced - {n for n in names if n is not None}):
        raise ValidationFailure(
            detail=f"Pool '{name}' was referenced but no full definition was found."
        )
    return {p.name: p for p in definitions if p.name is not None}


def object_counts(
    listeners: list[ListenerSingleCreate], pools: dict[str, PoolSingleCreate]
) -> dict[str, int]:
    """How many of each object the request creates, for the quota check."""
    policies = [policy for li in listeners for policy in li.l7policies or []]
    return {
        "pool": len(pools),
        "member": sum(len(p.members or []) for p in pools.values()),
        "health_monitor": sum(1 for p in pools.values() if p.healthmonitor is not None),
        "listener": len(listeners),
        "l7policy": len(policies),
        "l7rule": sum(len(policy.rules or []) for policy in policies),
    }


def create_children(
    session: Session,
    settings: Settings,
    lb: LoadBalancer,
    listeners: list[ListenerSingleCreate],
    pools: dict[str, PoolSingleCreate],
) -> None:
    project_id = lb.project_id
    created: dict[str, Pool] = {}
    for name, spec in pools.items():
        for attr in ("protocol", "lb_algorithm"):
            if getattr(spec, attr) is None:
                raise ValidationFailure(
                    detail=f"Pool definition for '{name}' missing required attribute: {attr}"
                )
        pool = build_pool(session, settings, lb, spec, project_id)
        # The monitor first: members of a monitored pool start OFFLINE, not NO_MONITOR.
        if spec.healthmonitor is not None:
            build_health_monitor(settings, pool, spec.healthmonitor, project_id)
        for member_spec in spec.members or []:
            build_member(settings, pool, member_spec, project_id)
        created[name] = pool

    def by_name(name: str | None) -> Pool:
        if name is None or name not in created:
            raise SingleCreateDetailsMissing(type="Pool", name=name)
        return created[name]

    for li_spec in listeners:
        listener = build_listener(session, settings, lb, li_spec, project_id)
        if listener.protocol == constants.PROMETHEUS and (
            li_spec.default_pool is not None or li_spec.l7policies
        ):
            raise ListenerNoChildren(protocol=constants.PROMETHEUS)
        if li_spec.default_pool is not None:
            pool = by_name(li_spec.default_pool.name)
            check_pool_protocol(listener.protocol, pool.protocol)
            listener.default_pool = pool
        for policy_spec in li_spec.l7policies or []:
            redirect = policy_spec.redirect_pool
            policy = build_l7policy(
                session,
                settings,
                listener,
                policy_spec,
                project_id,
                redirect_pool=by_name(redirect.name) if redirect is not None else None,
            )
            for rule_spec in policy_spec.rules or []:
                build_l7rule(policy, rule_spec, project_id)
