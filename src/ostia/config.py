"""Ostia's configuration: defaults that work at once, a TOML file, environment variables.

Precedence (highest first): environment variables (``OSTIA_<SECTION>__<OPTION>``, e.g.
``OSTIA_API__BIND_PORT=9877``), the TOML file (``--config``, ``$OSTIA_CONFIG`` or
``/etc/ostia/ostia.toml``), then the defaults below. Section and option names follow
Octavia's ``octavia.conf`` where Octavia has the same option.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG_FILE = Path("/etc/ostia/ostia.toml")

OWASP_SUITE_B_CIPHERS = (
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
    "DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA256:DHE-RSA-AES128-SHA256:"
    "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
    "ECDHE-ECDSA-AES128-SHA256"
)


def default_data_dir() -> Path:
    if env := os.environ.get("OSTIA_DATA_DIR"):
        return Path(env)
    return Path.home() / ".local" / "share" / "ostia"


class ApiSettings(BaseModel):
    bind_host: str = "127.0.0.1"
    bind_port: int = 9876
    # noauth: identity from X-Project-Id/X-Roles headers; keystone: X-Auth-Token validated
    # by Ostia's identity service (or the external Keystone of [identity]).
    auth_strategy: Literal["noauth", "keystone"] = "keystone"
    pagination_max_limit: str = "1000"
    api_base_uri: str = ""
    max_request_body_size: int = 114688
    allow_tls_terminated_listeners: bool = True
    allow_ping_health_monitors: bool = True
    allow_prometheus_listeners: bool = True
    enabled_provider_drivers: dict[str, str] = Field(
        default_factory=lambda: {
            "amphora": "The Octavia Amphora driver.",
            "octavia": "Deprecated alias of the Octavia Amphora driver.",
        }
    )
    default_provider_driver: str = "octavia"
    udp_connect_min_interval_health_monitor: int = 3
    default_listener_ciphers: str = OWASP_SUITE_B_CIPHERS
    default_pool_ciphers: str = OWASP_SUITE_B_CIPHERS
    tls_cipher_prohibit_list: str = ""
    default_listener_tls_versions: list[str] = Field(default_factory=lambda: ["TLSv1.2", "TLSv1.3"])
    default_pool_tls_versions: list[str] = Field(default_factory=lambda: ["TLSv1.2", "TLSv1.3"])
    minimum_tls_version: str | None = None
    default_listener_alpn_protocols: list[str] = Field(
        default_factory=lambda: ["h2", "http/1.1", "http/1.0"]
    )
    default_pool_alpn_protocols: list[str] = Field(
        default_factory=lambda: ["h2", "http/1.1", "http/1.0"]
    )


class DatabaseSettings(BaseModel):
    # Empty means SQLite in the data directory.
    url: str = ""


class ControllerSettings(BaseModel):
    instance_id: str = Field(default_factory=socket.gethostname)
    workers: int = 4
    poll_interval: float = 0.2
    lease_seconds: float = 30.0
    max_attempts: int = 5
    retry_initial_delay: float = 0.5
    retry_max_delay: float = 10.0
    loadbalancer_topology: Literal["SINGLE", "ACTIVE_STANDBY"] = "SINGLE"
    # noop: objects settle without any data plane (Octavia's noop drivers); amphora: real
    # amphorae (network namespaces with HAProxy and keepalived), root only.
    provider: Literal["noop", "amphora"] = "noop"
    # Seconds the noop provider spends on each load balancer; only for demonstrations
    # and crash tests that need work in flight.
    noop_step_delay: float = 0.0


class IdentitySettings(BaseModel):
    """The embedded Keystone v3 subset, or an external Keystone to validate tokens with."""

    region: str = "RegionOne"
    # The address clients use to reach Ostia, for the service catalog; empty means
    # http://<api.bind_host>:<api.bind_port>.
    public_url: str = ""
    # Also serve the identity endpoint on this port (Keystone's is 5000); None: only at
    # <public_url>/identity.
    port: int | None = None
    token_expiration: int = 3600
    # Fernet keys for tokens; empty means <data_dir>/fernet-keys.
    key_repository: str = ""
    # Validate tokens against this Keystone (its v3 URL) instead of Ostia's own identity.
    external_url: str = ""
    external_username: str = ""
    external_password: str = ""
    external_project_name: str = ""
    external_user_domain_name: str = "Default"
    external_project_domain_name: str = "Default"
    validation_cache_seconds: float = 60.0


class NetworkingSettings(BaseModel):
    # noop: any network, subnet and port id is accepted and nothing is allocated (as
    # Octavia's noop network driver); managed: Ostia's own networks (/network/v2.0) with IPAM.
    mode: Literal["noop", "managed"] = "managed"
    allow_vip_network_id: bool = True
    allow_vip_subnet_id: bool = True
    allow_vip_port_id: bool = True
    valid_vip_networks: list[str] = Field(default_factory=list)
    denylist_vip_networks: list[str] = Field(default_factory=list)
    reserved_ips: list[str] = Field(default_factory=lambda: ["169.254.169.254"])


class DataplaneSettings(BaseModel):
    """The netns data plane: where amphorae live and how they are wired."""

    # Every namespace of this Ostia starts with it (<prefix>-fab, <prefix>-ctl,
    # <prefix>-a<amphora>): two Ostias (or tests) on one machine must use different ones.
    prefix: str = Field(default="ostia", pattern=r"^[A-Za-z0-9_]{1,16}$")
    # The management network (agent traffic TCP 9443, heartbeats UDP 5555); it must not
    # overlap any address, route or DNS server of this machine.
    management_cidr: str = "10.249.0.0/22"
    agent_port: int = 9443
    # Directory of the amphorae's files; empty means <data_dir>/amphorae.
    amphora_dir: str = ""
    vrrp_advert_int: float = 0.1
    agent_timeout: float = 10.0


class QuotaSettings(BaseModel):
    default_load_balancer_quota: int = -1
    default_listener_quota: int = -1
    default_member_quota: int = -1
    default_pool_quota: int = -1
    default_health_monitor_quota: int = -1
    default_l7policy_quota: int = -1
    default_l7rule_quota: int = -1


class HaproxySettings(BaseModel):
    timeout_client_data: int = 50000
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    default_connection_limit: int = 50000


class HealthSettings(BaseModel):
    """The health manager ([health_manager] in Octavia): heartbeats and failover."""

    # UDP port of the heartbeat receiver, on the controller's management address.
    bind_port: int = 5555
    # Seconds between two heartbeats of an amphora (Octavia's default is 10).
    heartbeat_interval: float = Field(default=1.0, gt=0)
    # An amphora silent for this long is failed over (Octavia's default is 60).
    heartbeat_timeout: float = Field(default=3.0, gt=0)
    # Seconds between two looks for silent amphorae (Octavia's default is 3).
    health_check_interval: float = Field(default=0.25, gt=0)
    # HMAC key of the heartbeats; empty means one generated once in <data_dir>/heartbeat_key.
    heartbeat_key: str = ""
    # Heartbeats sent longer ago than this are refused as replays.
    replay_window: float = Field(default=30.0, gt=0)
    # Stop failovers when this many amphorae are stale at once (None: never).
    failover_threshold: int | None = None


class HousekeepingSettings(BaseModel):
    """Octavia's [house_keeping]: purging DELETED rows and rotating amphora certificates
    (seconds throughout)."""

    cleanup_interval: float = Field(default=30.0, gt=0)
    amphora_expiry_age: float = Field(default=604800.0, ge=0)
    load_balancer_expiry_age: float = Field(default=604800.0, ge=0)
    cert_interval: float = Field(default=3600.0, gt=0)
    # An amphora whose certificate expires within this is given a new one.
    cert_expiry_buffer: float = Field(default=1209600.0, ge=0)
    cert_rotate_threads: int = Field(default=10, ge=1)
    # Amphorae booted in advance (READY, no load balancer) that a create claims instead of
    # booting one; the pool is refilled every spare_check_interval and after each claim.
    spare_amphora_pool_size: int = Field(default=0, ge=0)
    spare_check_interval: float = Field(default=30.0, gt=0)


class CertificateSettings(BaseModel):
    """Octavia's [certificates] options of the local certificate generator."""

    # Validity of the amphorae's server certificates, in seconds (30 days).
    cert_validity_time: int = Field(default=2592000, gt=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OSTIA_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    api: ApiSettings = Field(default_factory=ApiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    controller: ControllerSettings = Field(default_factory=ControllerSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    dataplane: DataplaneSettings = Field(default_factory=DataplaneSettings)
    networking: NetworkingSettings = Field(default_factory=NetworkingSettings)
    quotas: QuotaSettings = Field(default_factory=QuotaSettings)
    haproxy: HaproxySettings = Field(default_factory=HaproxySettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    house_keeping: HousekeepingSettings = Field(default_factory=HousekeepingSettings)
    certificates: CertificateSettings = Field(default_factory=CertificateSettings)

    toml_file: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_file))
        return tuple(sources)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'ostia.sqlite'}"


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Read the settings; ``config_file`` wins over ``$OSTIA_CONFIG`` and the default path."""
    path = config_file or (
        Path(os.environ["OSTIA_CONFIG"]) if "OSTIA_CONFIG" in os.environ else None
    )
    if path is None and DEFAULT_CONFIG_FILE.exists():
        path = DEFAULT_CONFIG_FILE
    if path is not None and not path.exists():
        raise FileNotFoundError(f"configuration file {path} does not exist")

    class FileSettings(Settings):
        toml_file: ClassVar[Path | None] = path

    return FileSettings(**overrides)  # type: ignore[arg-type]
