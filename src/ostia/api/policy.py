"""Octavia's default RBAC policy (``os_load-balancer_api:*``), for Keystone's default roles
and for the legacy ``load-balancer_*`` roles Octavia still accepts."""

from __future__ import annotations

from collections.abc import Callable

from ostia.api.context import RequestContext
from ostia.errors import PolicyForbidden

Rule = Callable[[RequestContext, str | None], bool]


def _role(name: str) -> Rule:
    return lambda ctx, _project: name in ctx.roles


def _owner(ctx: RequestContext, project: str | None) -> bool:
    return ctx.project_id is not None and ctx.project_id == project


def _any(*rules: Rule) -> Rule:
    return lambda ctx, project: any(rule(ctx, project) for rule in rules)


def _all(*rules: Rule) -> Rule:
    return lambda ctx, project: all(rule(ctx, project) for rule in rules)


admin = _any(_role("admin"), _role("load-balancer_admin"))
service = _role("service")
global_observer = _any(_role("admin"), _role("load-balancer_global_observer"))
quota_admin = _any(_role("admin"), _role("load-balancer_quota_admin"))
member_and_owner = _any(_all(_role("member"), _owner), _all(_role("load-balancer_member"), _owner))
observer_and_owner = _any(
    _all(_role("reader"), _owner), _all(_role("load-balancer_observer"), _owner)
)

read = _any(observer_and_owner, global_observer, member_and_owner, admin)
read_global = _any(global_observer, admin)
write = _any(member_and_owner, admin)
read_quota = _any(observer_and_owner, global_observer, member_and_owner, quota_admin, admin)
read_quota_global = _any(global_observer, quota_admin, admin)
write_quota = _any(quota_admin, admin)


def _crud(resource: str, *, global_list: bool = True, stats: bool = False) -> dict[str, Rule]:
    rules = {
        f"{resource}:get_all": read,
        f"{resource}:post": write,
        f"{resource}:get_one": read,
        f"{resource}:put": write,
        f"{resource}:delete": write,
    }
    if global_list:
        rules[f"{resource}:get_all-global"] = read_global
    if stats:
        rules[f"{resource}:get_stats"] = read
    return rules


def _admin_crud(resource: str) -> dict[str, Rule]:
    return {f"{resource}:{op}": admin for op in ("get_all", "post", "get_one", "put", "delete")}


RULES: dict[str, Rule] = {
    **_crud("loadbalancer", stats=True),
    "loadbalancer:get_status": read,
    "loadbalancer:put_failover": admin,
    "loadbalancer:post:vip_sg_ids": write,
    "loadbalancer:put:vip_sg_ids": write,
    **_crud("listener", stats=True),
    **_crud("pool"),
    **_crud("member", global_list=False),
    "member:get_all": _any(read, service),
    **_crud("healthmonitor"),
    **_crud("l7policy"),
    **_crud("l7rule", global_list=False),
    "quota:get_all": read_quota,
    "quota:get_all-global": read_quota_global,
    "quota:get_one": read_quota,
    "quota:put": write_quota,
    "quota:delete": write_quota,
    "quota:get_defaults": read_quota,
    "provider:get_all": read,
    "provider-flavor:get_all": admin,
    "provider-availability-zone:get_all": admin,
    **_admin_crud("flavor"),
    "flavor:get_all": read,
    "flavor:get_one": read,
    **_admin_crud("flavor-profile"),
    **_admin_crud("availability-zone"),
    "availability-zone:get_all": read,
    "availability-zone:get_one": read,
    **_admin_crud("availability-zone-profile"),
    **{
        f"amphora:{op}": admin
        for op in ("get_all", "get_one", "delete", "put_config", "put_failover")
    },
    "amphora:get_stats": admin,
}


def allowed(ctx: RequestContext, action: str, project_id: str | None = None) -> bool:
    return RULES[action](ctx, project_id)


def enforce(ctx: RequestContext, action: str, project_id: str | None = None) -> None:
    """Raise 403 unless ``ctx`` may perform ``action`` on an object of ``project_id``."""
    if not allowed(ctx, action, project_id):
        raise PolicyForbidden()


def is_admin(ctx: RequestContext) -> bool:
    return admin(ctx, None)
