"""How database rows look in API responses (the ``*Response`` shapes of ``api.schemas``).

Rendered as plain dicts for speed; ``tests/unit/test_views.py`` checks each renderer
against its response model so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ostia.db.models import (
    HealthMonitor,
    L7Policy,
    L7Rule,
    Listener,
    LoadBalancer,
    Member,
    Pool,
)

DEFAULT_PROVIDER_NAME = "octavia"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _common(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "provisioning_status": row.provisioning_status,
        "operating_status": row.operating_status,
        "admin_state_up": row.enabled,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "created_at": _time(row.created_at),
        "updated_at": _time(row.updated_at),
        "tags": row.tag_names,
    }


def _ids(rows: Any) -> list[dict[str, str]]:
    return [{"id": row.id} for row in rows]


@dataclass
class Children:
    """A load balancer's listeners and pools as its response shows them: ids, or (right
    after a create) the whole objects."""

    listener_ids: list[str] = field(default_factory=list)
    pool_ids: list[str] = field(default_factory=list)
    rendered: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None

    @classmethod
    def full(cls, lb: LoadBalancer) -> Children:
        return cls(
            rendered=(
                [listener(li, full=True) for li in lb.listeners],
                [pool(p, full=True) for p in lb.pools],
            )
        )


def load_balancer(lb: LoadBalancer, children: Children) -> dict[str, Any]:
    vip = lb.vip
    if children.rendered is not None:
        listeners, pools = children.rendered
    else:
        listeners = [{"id": i} for i in children.listener_ids]
        pools = [{"id": i} for i in children.pool_ids]
    return {
        **_common(lb),
        "name": lb.name or "",
        "description": lb.description or "",
        "vip_address": vip.ip_address,
        "vip_port_id": vip.port_id,
        "vip_subnet_id": vip.subnet_id,
        "vip_network_id": vip.network_id,
        "vip_qos_policy_id": vip.qos_policy_id,
        "vip_sg_ids": list(vip.sg_ids or []),
        "vip_vnic_type": vip.vnic_type,
        "additional_vips": [
            {"subnet_id": a["subnet_id"], "ip_address": a["ip_address"], "port_id": a["port_id"]}
            for a in vip.additional
        ],
        "listeners": listeners,
        "pools": pools,
        "provider": lb.provider or DEFAULT_PROVIDER_NAME,
        "flavor_id": lb.flavor_id,
        "availability_zone": lb.availability_zone,
        "fault": lb.reconcile.last_error if lb.reconcile is not None else None,
    }


def listener(li: Listener, *, full: bool = False) -> dict[str, Any]:
    return {
        **_common(li),
        "name": li.name or "",
        "description": li.description or "",
        "protocol": li.protocol,
        "protocol_port": li.protocol_port,
        "connection_limit": li.connection_limit,
        "default_tls_container_ref": li.default_tls_container_ref,
        "sni_container_refs": list(li.sni_container_refs or []),
        "default_pool_id": li.default_pool_id,
        "l7policies": [l7policy(p, full=True) for p in li.l7policies]
        if full
        else _ids(li.l7policies),
        "insert_headers": dict(li.insert_headers or {}),
        "loadbalancers": [{"id": li.load_balancer_id}],
        "timeout_client_data": li.timeout_client_data,
        "timeout_member_connect": li.timeout_member_connect,
        "timeout_member_data": li.timeout_member_data,
        "timeout_tcp_inspect": li.timeout_tcp_inspect,
        "client_ca_tls_container_ref": li.client_ca_tls_container_ref,
        "client_authentication": li.client_authentication,
        "client_crl_container_ref": li.client_crl_container_ref,
        "allowed_cidrs": list(li.allowed_cidrs) if li.allowed_cidrs else None,
        "tls_ciphers": li.tls_ciphers,
        "tls_versions": li.tls_versions,
        "alpn_protocols": li.alpn_protocols,
        "hsts_max_age": li.hsts_max_age,
        "hsts_include_subdomains": li.hsts_include_subdomains,
        "hsts_preload": li.hsts_preload,
    }


def pool(p: Pool, *, full: bool = False) -> dict[str, Any]:
    sp = p.session_persistence
    rendered = {
        **_common(p),
        "name": p.name or "",
        "description": p.description or "",
        "protocol": p.protocol,
        "lb_algorithm": p.lb_algorithm,
        "session_persistence": {
            "type": sp.type,
            "cookie_name": sp.cookie_name,
            "persistence_timeout": sp.persistence_timeout,
            "persistence_granularity": sp.persistence_granularity,
        }
        if sp is not None
        else None,
        "loadbalancers": [{"id": p.load_balancer_id}],
        "listeners": _ids(p.listeners),
        "healthmonitor_id": p.health_monitor.id if p.health_monitor is not None else None,
        "members": [member(m) for m in p.members] if full else _ids(p.members),
        "tls_container_ref": p.tls_certificate_id,
        "ca_tls_container_ref": p.ca_tls_certificate_id,
        "crl_container_ref": p.crl_container_id,
        "tls_enabled": p.tls_enabled,
        "tls_ciphers": p.tls_ciphers,
        "tls_versions": p.tls_versions,
        "alpn_protocols": p.alpn_protocols,
    }
    if full:
        hm = p.health_monitor
        rendered["healthmonitor"] = health_monitor(hm) if hm is not None else None
    return rendered


def member(m: Member) -> dict[str, Any]:
    return {
        **_common(m),
        "name": m.name or "",
        "address": m.ip_address,
        "protocol_port": m.protocol_port,
        "weight": m.weight,
        "backup": m.backup,
        "subnet_id": m.subnet_id,
        "monitor_address": m.monitor_address,
        "monitor_port": m.monitor_port,
        "vnic_type": m.vnic_type,
    }


def health_monitor(hm: HealthMonitor) -> dict[str, Any]:
    return {
        **_common(hm),
        "name": hm.name or "",
        "type": hm.type,
        "delay": hm.delay,
        "timeout": hm.timeout,
        "max_retries": hm.rise_threshold,
        "max_retries_down": hm.fall_threshold,
        "http_method": hm.http_method,
        "url_path": hm.url_path,
        "expected_codes": hm.expected_codes,
        "pools": [{"id": hm.pool_id}],
        "http_version": hm.http_version,
        "domain_name": hm.domain_name,
    }


def l7policy(policy: L7Policy, *, full: bool = False) -> dict[str, Any]:
    return {
        **_common(policy),
        "name": policy.name or "",
        "description": policy.description or "",
        "action": policy.action,
        "listener_id": policy.listener_id,
        "redirect_pool_id": policy.redirect_pool_id,
        "redirect_url": policy.redirect_url,
        "redirect_prefix": policy.redirect_prefix,
        "position": policy.position,
        "rules": [l7rule(r) for r in policy.rules] if full else _ids(policy.rules),
        "redirect_http_code": policy.redirect_http_code,
    }


def l7rule(rule: L7Rule) -> dict[str, Any]:
    return {
        **_common(rule),
        "type": rule.type,
        "compare_type": rule.compare_type,
        "key": rule.key,
        "value": rule.value,
        "invert": rule.invert,
    }


def status_tree(lb: LoadBalancer) -> dict[str, Any]:
    """The ``/status`` tree, shaped as Octavia's code emits it (``health_monitor`` key)."""

    def pool_status(p: Pool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": p.id,
            "name": p.name or "",
            "provisioning_status": p.provisioning_status,
            "operating_status": p.operating_status,
        }
        if (hm := p.health_monitor) is not None:
            entry["health_monitor"] = {
                "id": hm.id,
                "name": hm.name or "",
                "type": hm.type,
                "provisioning_status": hm.provisioning_status,
                "operating_status": hm.operating_status,
            }
        entry["members"] = [
            {
                "id": m.id,
                "name": m.name or "",
                "operating_status": m.operating_status,
                "provisioning_status": m.provisioning_status,
                "address": m.ip_address,
                "protocol_port": m.protocol_port,
            }
            for m in p.members
        ]
        return entry

    def listener_pools(li: Listener) -> list[Pool]:
        pools = [li.default_pool] if li.default_pool is not None else []
        for policy in li.l7policies:
            redirect = policy.redirect_pool
            if redirect is not None and all(redirect.id != p.id for p in pools):
                pools.append(redirect)
        return pools

    return {
        "statuses": {
            "loadbalancer": {
                "id": lb.id,
                "name": lb.name or "",
                "operating_status": lb.operating_status,
                "provisioning_status": lb.provisioning_status,
                "listeners": [
                    {
                        "id": li.id,
                        "name": li.name or "",
                        "operating_status": li.operating_status,
                        "provisioning_status": li.provisioning_status,
                        "pools": [pool_status(p) for p in listener_pools(li)],
                    }
                    for li in lb.listeners
                ],
            }
        }
    }
