"""The service catalog: Ostia's identity, load-balancer and network endpoints, in one region.

Every interface (public, internal, admin) has the same URL: ``identity.public_url`` when
set, else the API's bind address. Ids are derived from the service type, so they are the
same in every token and on every API process.
"""

from __future__ import annotations

import uuid
from typing import Any

from ostia.config import Settings

# (type, name, path under the public URL): unversioned, as clients discover the versions.
SERVICES = (
    ("identity", "keystone", "/identity"),
    ("load-balancer", "octavia", ""),
    ("network", "neutron", "/network"),
)
INTERFACES = ("public", "internal", "admin")


def public_url(settings: Settings) -> str:
    if settings.identity.public_url:
        return settings.identity.public_url.rstrip("/")
    host = settings.api.bind_host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.api.bind_port}"


def _id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "ostia:" + "/".join(parts)).hex


def catalog(settings: Settings) -> list[dict[str, Any]]:
    base = public_url(settings)
    region = settings.identity.region
    return [
        {
            "id": _id(service_type),
            "type": service_type,
            "name": name,
            "endpoints": [
                {
                    "id": _id(service_type, interface),
                    "interface": interface,
                    "region": region,
                    "region_id": region,
                    "url": base + path,
                }
                for interface in INTERFACES
            ],
        }
        for service_type, name, path in SERVICES
    ]
