"""The database schema: the desired state of every load balancer tree, and the controller's
bookkeeping beside it.

Column names follow Octavia's where Octavia has the column (``enabled`` for the API's
``admin_state_up``, ``rise_threshold``/``fall_threshold`` for ``max_retries``/
``max_retries_down``), so operators who know Octavia's schema can read this one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Naive UTC to the second, the way Octavia stores and shows timestamps."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class JSONText(TypeDecorator[Any]):
    """JSON kept as text, so it reads the same and can be searched with LIKE everywhere."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else orjson.dumps(value).decode()

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else orjson.loads(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, onupdate=utcnow)


class TaggedMixin:
    """Octavia keeps tags as a list of strings on every user-facing object; Ostia keeps
    them beside the object, as a JSON list, so reading an object costs no extra query."""

    tags: Mapped[list[str]] = mapped_column(JSONText, default=list)

    @property
    def tag_names(self) -> list[str]:
        return list(self.tags or [])

    def set_tags(self, names: list[str] | None) -> None:
        self.tags = sorted(set(names or []))


class StatusMixin:
    provisioning_status: Mapped[str] = mapped_column(String(16), index=True)
    operating_status: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class FlavorProfile(Base):
    __tablename__ = "flavor_profile"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    flavor_data: Mapped[str] = mapped_column(String(4096))


class Flavor(Base):
    __tablename__ = "flavor"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    flavor_profile_id: Mapped[str] = mapped_column(ForeignKey("flavor_profile.id"))
    flavor_profile: Mapped[FlavorProfile] = relationship(lazy="joined")


class AvailabilityZoneProfile(Base):
    __tablename__ = "availability_zone_profile"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    provider_name: Mapped[str] = mapped_column(String(255))
    availability_zone_data: Mapped[str] = mapped_column(String(4096))


class AvailabilityZone(Base):
    __tablename__ = "availability_zone"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    availability_zone_profile_id: Mapped[str] = mapped_column(
        ForeignKey("availability_zone_profile.id")
    )
    availability_zone_profile: Mapped[AvailabilityZoneProfile] = relationship(lazy="joined")


class LoadBalancer(Base, TimestampMixin, StatusMixin, TaggedMixin):
    __tablename__ = "load_balancer"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(64))
    topology: Mapped[str] = mapped_column(String(16))
    flavor_id: Mapped[str | None] = mapped_column(ForeignKey("flavor.id"))
    availability_zone: Mapped[str | None] = mapped_column(ForeignKey("availability_zone.name"))
    # Set by a failover request, cleared by the controller when it has done it.
    failover_requested: Mapped[bool] = mapped_column(Boolean, default=False)

    vip: Mapped[Vip] = relationship(
        back_populates="load_balancer", cascade="all, delete-orphan", lazy="joined"
    )
    listeners: Mapped[list[Listener]] = relationship(
        back_populates="load_balancer",
        cascade="all, delete-orphan",
        order_by="(Listener.created_at, Listener.id)",
    )
    pools: Mapped[list[Pool]] = relationship(
        back_populates="load_balancer",
        cascade="all, delete-orphan",
        order_by="(Pool.created_at, Pool.id)",
    )
    reconcile: Mapped[ReconcileState] = relationship(cascade="all, delete-orphan")

    @property
    def vip_addresses(self) -> list[str | None]:
        """The VIP's address and those of the additional VIPs."""
        return [self.vip.ip_address, *(extra["ip_address"] for extra in self.vip.additional)]


class Vip(Base):
    __tablename__ = "vip"
    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), primary_key=True
    )
    ip_address: Mapped[str | None] = mapped_column(String(64), index=True)
    port_id: Mapped[str | None] = mapped_column(String(36))
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    network_id: Mapped[str | None] = mapped_column(String(36))
    qos_policy_id: Mapped[str | None] = mapped_column(String(36))
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")
    sg_ids: Mapped[list[str]] = mapped_column(JSONText, default=list)
    # Further VIPs on other subnets of the same network (Octavia's additional_vips):
    # [{"subnet_id", "network_id", "ip_address", "port_id"}, ...]; fixed at create.
    additional: Mapped[list[dict[str, str | None]]] = mapped_column(JSONText, default=list)
    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="vip")


class Listener(Base, TimestampMixin, StatusMixin, TaggedMixin):
    __tablename__ = "listener"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(16))
    protocol_port: Mapped[int] = mapped_column(Integer)
    connection_limit: Mapped[int] = mapped_column(Integer, default=-1)
    default_pool_id: Mapped[str | None] = mapped_column(
        ForeignKey("pool.id", ondelete="SET NULL"), index=True
    )
    default_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    sni_container_refs: Mapped[list[str]] = mapped_column(JSONText, default=list)
    client_ca_tls_container_ref: Mapped[str | None] = mapped_column(String(255))
    client_authentication: Mapped[str] = mapped_column(String(10), default="NONE")
    client_crl_container_ref: Mapped[str | None] = mapped_column(String(255))
    insert_headers: Mapped[dict[str, str]] = mapped_column(JSONText, default=dict)
    timeout_client_data: Mapped[int | None] = mapped_column(Integer)
    timeout_member_connect: Mapped[int | None] = mapped_column(Integer)
    timeout_member_data: Mapped[int | None] = mapped_column(Integer)
    timeout_tcp_inspect: Mapped[int | None] = mapped_column(Integer)
    allowed_cidrs: Mapped[list[str] | None] = mapped_column(JSONText)
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSONText)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSONText)
    hsts_max_age: Mapped[int | None] = mapped_column(Integer)
    hsts_include_subdomains: Mapped[bool] = mapped_column(Boolean, default=False)
    hsts_preload: Mapped[bool] = mapped_column(Boolean, default=False)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="listeners")
    default_pool: Mapped[Pool | None] = relationship(
        back_populates="default_listeners", foreign_keys=[default_pool_id]
    )
    l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="listener",
        cascade="all, delete-orphan",
        order_by="L7Policy.position",
    )


class Pool(Base, TimestampMixin, StatusMixin, TaggedMixin):
    __tablename__ = "pool"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    load_balancer_id: Mapped[str] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    protocol: Mapped[str] = mapped_column(String(16))
    lb_algorithm: Mapped[str] = mapped_column(String(255))
    tls_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    ca_tls_certificate_id: Mapped[str | None] = mapped_column(String(255))
    crl_container_id: Mapped[str | None] = mapped_column(String(255))
    tls_ciphers: Mapped[str | None] = mapped_column(String(2048))
    tls_versions: Mapped[list[str] | None] = mapped_column(JSONText)
    alpn_protocols: Mapped[list[str] | None] = mapped_column(JSONText)

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="pools")
    default_listeners: Mapped[list[Listener]] = relationship(
        back_populates="default_pool", foreign_keys="Listener.default_pool_id"
    )
    redirecting_l7policies: Mapped[list[L7Policy]] = relationship(
        back_populates="redirect_pool", foreign_keys="L7Policy.redirect_pool_id"
    )
    members: Mapped[list[Member]] = relationship(
        back_populates="pool",
        cascade="all, delete-orphan",
        order_by="(Member.created_at, Member.id)",
    )
    health_monitor: Mapped[HealthMonitor | None] = relationship(
        back_populates="pool", cascade="all, delete-orphan"
    )
    session_persistence: Mapped[SessionPersistence | None] = relationship(
        cascade="all, delete-orphan", lazy="joined"
    )

    @property
    def listeners(self) -> list[Listener]:
        """Listeners actually using the pool: as default pool, or through an enabled L7
        policy with at least one rule (Octavia's definition)."""
        found = {li.id: li for li in self.default_listeners}
        for policy in self.redirecting_l7policies:
            if policy.enabled and policy.rules:
                found.setdefault(policy.listener.id, policy.listener)
        return list(found.values())


class SessionPersistence(Base):
    __tablename__ = "session_persistence"
    pool_id: Mapped[str] = mapped_column(
        ForeignKey("pool.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[str] = mapped_column(String(16))
    cookie_name: Mapped[str | None] = mapped_column(String(255))
    persistence_timeout: Mapped[int | None] = mapped_column(Integer)
    persistence_granularity: Mapped[str | None] = mapped_column(String(64))


class Member(Base, TimestampMixin, StatusMixin, TaggedMixin):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("pool_id", "ip_address", "protocol_port"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    ip_address: Mapped[str] = mapped_column(String(64))
    protocol_port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    backup: Mapped[bool] = mapped_column(Boolean, default=False)
    subnet_id: Mapped[str | None] = mapped_column(String(36))
    monitor_address: Mapped[str | None] = mapped_column(String(64))
    monitor_port: Mapped[int | None] = mapped_column(Integer)
    vnic_type: Mapped[str] = mapped_column(String(64), default="normal")

    pool: Mapped[Pool] = relationship(back_populates="members")


class HealthMonitor(Base, TimestampMixin, StatusMixin, TaggedMixin):
    __tablename__ = "health_monitor"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pool.id"), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(36))
    delay: Mapped[int] = mapped_column(Integer)
    timeout: Mapped[int] = mapped_column(Integer)
    rise_threshold: Mapped[int] = mapped_column(Integer)
    fall_threshold: Mapped[int] = mapped_column(Integer)
    http_method: Mapped[str | None] = mapped_column(String(16))
    url_path: Mapped[str | None] = mapped_column(String(2048))
    expected_codes: Mapped[str | None] = mapped_column(String(64))
    http_version: Mapped[float | None] = mapped_column(Float)
    domain_name: Mapped[str | None] = mapped_column(String(255))

    pool: Mapped[Pool] = relationship(back_populates="health_monitor")


class L7Policy(Base, TimestampMixin, StatusMixin, TaggedMixin):
    __tablename__ = "l7policy"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    listener_id: Mapped[str] = mapped_column(ForeignKey("listener.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(36))
    redirect_pool_id: Mapped[str | None] = mapped_column(ForeignKey("pool.id"), index=True)
    redirect_url: Mapped[str | None] = mapped_column(String(255))
    redirect_prefix: Mapped[str | None] = mapped_column(String(255))
    redirect_http_code: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)

    listener: Mapped[Listener] = relationship(back_populates="l7policies")
    redirect_pool: Mapped[Pool | None] = relationship(
        back_populates="redirecting_l7policies", foreign_keys=[redirect_pool_id]
    )
    rules: Mapped[list[L7Rule]] = relationship(
        back_populates="l7policy",
        cascade="all, delete-orphan",
        order_by="(L7Rule.created_at, L7Rule.id)",
    )


class L7Rule(Base, TimestampMixin, StatusMixin, TaggedMixin):
    __tablename__ = "l7rule"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str | None] = mapped_column(String(36), index=True)
    l7policy_id: Mapped[str] = mapped_column(ForeignKey("l7policy.id"), index=True)
    type: Mapped[str] = mapped_column(String(36))
    compare_type: Mapped[str] = mapped_column(String(36))
    key: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    invert: Mapped[bool] = mapped_column(Boolean, default=False)

    l7policy: Mapped[L7Policy] = relationship(back_populates="rules")


class Amphora(Base, TimestampMixin):
    """One amphora: in netns mode a namespace with the agent, HAProxy and keepalived.

    The columns are Octavia's (the admin API shows them as they are), plus the management
    port, which Octavia's Nova instance gets implicitly."""

    __tablename__ = "amphora"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    load_balancer_id: Mapped[str | None] = mapped_column(ForeignKey("load_balancer.id"), index=True)
    compute_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(36), index=True)
    role: Mapped[str | None] = mapped_column(String(36))
    lb_network_ip: Mapped[str | None] = mapped_column(String(64))
    management_port_id: Mapped[str | None] = mapped_column(String(36))
    vrrp_ip: Mapped[str | None] = mapped_column(String(64))
    ha_ip: Mapped[str | None] = mapped_column(String(64))
    vrrp_port_id: Mapped[str | None] = mapped_column(String(36))
    ha_port_id: Mapped[str | None] = mapped_column(String(36))
    vrrp_interface: Mapped[str | None] = mapped_column(String(16))
    vrrp_id: Mapped[int | None] = mapped_column(Integer)
    vrrp_priority: Mapped[int | None] = mapped_column(Integer)
    cert_expiration: Mapped[datetime | None] = mapped_column(DateTime)
    cert_busy: Mapped[bool] = mapped_column(Boolean, default=False)
    cached_zone: Mapped[str | None] = mapped_column(String(255))
    image_id: Mapped[str | None] = mapped_column(String(36))
    compute_flavor: Mapped[str | None] = mapped_column(String(255))


class AmphoraHealth(Base):
    """When the health manager last heard from an amphora (Octavia's ``amphora_health``);
    ``busy`` is set while a failover of it is under way."""

    __tablename__ = "amphora_health"
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    last_update: Mapped[datetime] = mapped_column(DateTime)
    busy: Mapped[bool] = mapped_column(Boolean, default=False)


class Quota(Base):
    """A project's limits; NULL means the deployment default, -1 unlimited."""

    __tablename__ = "quota"
    project_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    load_balancer: Mapped[int | None] = mapped_column(Integer)
    listener: Mapped[int | None] = mapped_column(Integer)
    pool: Mapped[int | None] = mapped_column(Integer)
    health_monitor: Mapped[int | None] = mapped_column(Integer)
    member: Mapped[int | None] = mapped_column(Integer)
    l7policy: Mapped[int | None] = mapped_column(Integer)
    l7rule: Mapped[int | None] = mapped_column(Integer)


class ListenerStatistics(Base):
    """Traffic counters per listener and amphora, summed by the stats endpoints."""

    __tablename__ = "listener_statistics"
    listener_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    amphora_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    active_connections: Mapped[int] = mapped_column(Integer, default=0)
    total_connections: Mapped[int] = mapped_column(BigInteger, default=0)
    request_errors: Mapped[int] = mapped_column(BigInteger, default=0)


class ReconcileState(Base):
    """The controller's lease on a load balancer and its retry bookkeeping.

    Kept apart from ``load_balancer`` so that taking and renewing leases never touches
    the user-visible row (nor its ``updated_at``).
    """

    __tablename__ = "reconcile_state"
    load_balancer_id: Mapped[str] = mapped_column(
        ForeignKey("load_balancer.id", ondelete="CASCADE"), primary_key=True
    )
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


Index("ix_listener_lb_port", Listener.load_balancer_id, Listener.protocol_port)

__all__ = [
    "Amphora",
    "AmphoraHealth",
    "AvailabilityZone",
    "AvailabilityZoneProfile",
    "Base",
    "Flavor",
    "FlavorProfile",
    "HealthMonitor",
    "L7Policy",
    "L7Rule",
    "Listener",
    "ListenerStatistics",
    "LoadBalancer",
    "Member",
    "Pool",
    "Quota",
    "ReconcileState",
    "SessionPersistence",
    "Vip",
    "utcnow",
]
