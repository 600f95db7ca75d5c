"""The network service's tables: networks, their subnets, ports, and the IP allocations that
tie a port's fixed IPs to subnets.

An address is handed out by inserting an ``ip_allocation`` row, whose primary key is
(subnet, address): the database itself refuses the same address twice, whichever API
process asks.
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ostia.db.models import Base, JSONText, TaggedMixin, TimestampMixin

# Neutron's field sizes (neutron_lib.db.constants).
NAME_SIZE = 255
DESCRIPTION_SIZE = 255
PROJECT_ID_SIZE = 255
DEVICE_ID_SIZE = 255
DEVICE_OWNER_SIZE = 255
IP_SIZE = 64


class Network(Base, TimestampMixin, TaggedMixin):
    __tablename__ = "network"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_ID_SIZE), index=True)
    name: Mapped[str] = mapped_column(String(NAME_SIZE), default="", index=True)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_SIZE), default="")
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    subnets: Mapped[list[Subnet]] = relationship(
        back_populates="network",
        cascade="all, delete-orphan",
        order_by="(Subnet.created_at, Subnet.id)",
    )


class Subnet(Base, TimestampMixin, TaggedMixin):
    __tablename__ = "subnet"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_ID_SIZE), index=True)
    name: Mapped[str] = mapped_column(String(NAME_SIZE), default="", index=True)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_SIZE), default="")
    ip_version: Mapped[int] = mapped_column(Integer)
    cidr: Mapped[str] = mapped_column(String(IP_SIZE))
    gateway_ip: Mapped[str | None] = mapped_column(String(IP_SIZE))
    # [{"start": ..., "end": ...}, ...], sorted, never overlapping.
    allocation_pools: Mapped[list[dict[str, str]]] = mapped_column(JSONText, default=list)
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_nameservers: Mapped[list[str]] = mapped_column(JSONText, default=list)
    # [{"destination": cidr, "nexthop": ip}, ...]
    host_routes: Mapped[list[dict[str, str]]] = mapped_column(JSONText, default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(16))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(16))

    network: Mapped[Network] = relationship(back_populates="subnets")


class Port(Base, TimestampMixin, TaggedMixin):
    __tablename__ = "port"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("network.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(PROJECT_ID_SIZE), index=True)
    name: Mapped[str] = mapped_column(String(NAME_SIZE), default="", index=True)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_SIZE), default="")
    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_SIZE), default="", index=True)
    device_owner: Mapped[str] = mapped_column(String(DEVICE_OWNER_SIZE), default="")
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"ip_address": ip or cidr, "mac_address": mac}, ...]
    allowed_address_pairs: Mapped[list[dict[str, str]]] = mapped_column(JSONText, default=list)

    network: Mapped[Network] = relationship()
    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        back_populates="port", cascade="all, delete-orphan", order_by="IPAllocation.position"
    )


class IPAllocation(Base):
    """One fixed IP of a port: an address taken from a subnet."""

    __tablename__ = "ip_allocation"
    subnet_id: Mapped[str] = mapped_column(ForeignKey("subnet.id"), primary_key=True)
    # Always in its compressed form, so that one address has one spelling.
    ip_address: Mapped[str] = mapped_column(String(IP_SIZE), primary_key=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("port.id", ondelete="CASCADE"), index=True)
    # The fixed IP's place in the port's list.
    position: Mapped[int] = mapped_column(Integer, default=0)

    port: Mapped[Port] = relationship(back_populates="fixed_ips")
